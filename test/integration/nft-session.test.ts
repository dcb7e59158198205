// The long-running nft session matches each answer and each error to its own
// request by a fence, never by timing: 300 requests sent at once, failing and
// succeeding in turn, listings among them, each settles as it should; a
// failure never leaks into the next, innocent request.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { NftSession } from "../../src/firewall/nft-session.js";
import { requireRoot } from "../support/env.js";
import { uniqueName } from "../support/netns.js";

test("nft session: 300 interleaved requests, each gets its own answer or error", async (t) => {
  if (!requireRoot(t)) return;
  const ns = uniqueName("sess");
  execFileSync("ip", ["netns", "add", ns]);
  t.after(() => execFileSync("ip", ["netns", "del", ns]));
  execFileSync("ip", ["netns", "exec", ns, "nft", "add table inet s; add set inet s a { type ipv4_addr; flags timeout; }"]);
  const session = new NftSession(["ip", "netns", "exec", ns, "nft"], "inet s");
  t.after(() => session.close());

  const kinds = ["ok", "bad", "list", "missing"] as const;
  const outcomes = Array.from({ length: 300 }, (_, i) => {
    const kind = kinds[i % kinds.length] ?? "ok";
    const addr = `198.51.100.${i % 250}`;
    const command = {
      ok: `add element inet s a { ${addr} timeout 60s }`,
      // An error over several lines (message, command, carets) right before the next request.
      bad: `add element inet s a { ${addr}/33 }`,
      list: "list set inet s a",
      missing: `delete element inet s nosuchset { ${addr} }`,
    }[kind];
    return session.request(command).then(
      (answer) => ({ kind, ok: true, answer }),
      (e: Error) => ({ kind, ok: false, answer: e.message }),
    );
  });
  for (const r of await Promise.all(outcomes)) {
    if (r.kind === "ok") assert.deepEqual([r.ok, r.answer], [true, ""]);
    else if (r.kind === "list") assert.ok(r.ok && r.answer.startsWith('{"nftables"') && r.answer.includes('"name": "a"'), r.answer);
    else if (r.kind === "bad") assert.ok(!r.ok && /33/.test(r.answer) && !r.answer.includes("fence"), r.answer);
    else assert.ok(!r.ok && /No such file or directory/.test(r.answer) && !r.answer.includes("fence"), r.answer);
  }
});
