// A fresh state dir on a live table: only what the kernel route itself could
// have made (an element of a keyed ban set) is adopted, as source "adopted",
// for no longer than the element has left, with one log line and no
// "blocking"; an element of an interval set nobody recorded (a feed's wide
// network, a 0.0.0.0/2) is taken out, not adopted as this host's own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { blockingRe, linesMatching } from "../support/checks.js";
import { createInstance, startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology } from "../support/netns.js";
import { bannedElements } from "../support/nft.js";

void test("a fresh store on a live table adopts only keyed elements, for their own remaining time; wide ones nobody recorded are removed", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const first = await startDaemon(t, topo.host, { table: "blocked" });
  await first.stop();

  const t0 = Date.now();
  await topo.execHost(["nft", "-f", "-"], {
    input: [
      "add element inet iblock blocked_v4 { 198.51.100.7 timeout 600s }",
      "add element inet iblock blocked_net_v4 { 0.0.0.0/2 }",
      "add element inet iblock blocked_net_v6 { 2400::/19 }",
    ].join("\n") + "\n",
  });

  const inst = await createInstance(t, topo.host, { table: "blocked" });
  const d = await inst.start();
  await d.waitForLine(/scanned the firewall \(start\): .* 1 adopted, 2 removed/, 20_000);
  await d.waitForLine(/adopted 1 ban\(s\) found in the firewall/, 10_000);

  const listed = (await inst.list()).map((e) => ({ prefix: e.prefix, source: e.source, expires: e.expires }));
  assert.equal(listed.length, 1, JSON.stringify(listed));
  assert.equal(listed[0]?.prefix, "198.51.100.7/32");
  assert.equal(listed[0]?.source, "adopted");
  const expires = Date.parse(String(listed[0]?.expires));
  assert.ok(expires <= t0 + 600_000 + 1000, `no longer than the element had left: ${new Date(expires).toISOString()}`);
  assert.equal(linesMatching(d, blockingRe("198.51.100.7")).length, 0, `no "blocking" line for what was found\n${d.tail()}`);

  const held = await bannedElements(topo.host);
  assert.ok(held.has("198.51.100.7"), [...held].join(", "));
  assert.ok(!held.has("0.0.0.0/2") && !held.has("2400::/19"), `the wide elements nobody recorded are gone: ${[...held].join(", ")}`);
});
