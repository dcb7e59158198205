// No echo: each ban appears once in the fleet's stream, whoever applied it;
// a peer's ban is never published again. A host that restarts resumes from
// the last id it applied: nothing applied twice, nothing missed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { blockingRe, linesMatching } from "../support/checks.js";
import type { Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Fleet, TRAP_PORT } from "../support/fleet.js";
import { waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

async function hit(fleet: Fleet, src: string): Promise<void> {
  const r = await fleet.probe(src, "a", TRAP_PORT, 2000);
  assert.ok(r === "connected" || r === "reset", `trap handshake from ${src}: ${r}`);
}

async function waitPeerBans(inst: Instance, prefixes: readonly string[], what: string): Promise<void> {
  await waitUntil(
    async () => {
      const peer = new Set((await inst.list()).filter((e) => e.source === "peer").map((e) => e.prefix));
      return prefixes.every((p) => peer.has(p));
    },
    { timeoutMs: 10_000, intervalMs: 100, what },
  );
}

void test("each ban is in the stream once; B restarting re-applies nothing and misses nothing", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server"])) return;
  const fleet = await Fleet.create(t);
  const [a, b] = [await fleet.host(t, "a"), await fleet.host(t, "b")];
  const da = await a.start();
  let db = await b.start();
  for (const d of [da, db]) await d.waitForLine(/cluster: connected to Redis/, 10_000);
  // B is in the stream before A bans (its catch-up found an empty snapshot).
  await db.waitForLine(/caught up from the snapshot/, 10_000);

  const before = Array.from({ length: 5 }, (_, i) => stormSource(i));
  for (const src of before) await hit(fleet, src);
  const fromB = stormSource(100);
  assert.equal((await b.cli("ban", [fromB, "--reason", "by hand"])).code, 0);
  await waitPeerBans(b, before.map((s) => `${s}/32`), "A's five bans on B as peer bans");
  await waitPeerBans(a, [`${fromB}/32`], "B's ban on A as a peer ban");

  // B is stopped; A bans three more meanwhile.
  await db.stop();
  const during = Array.from({ length: 3 }, (_, i) => stormSource(10 + i));
  for (const src of during) await hit(fleet, src);
  db = await b.start();
  await waitPeerBans(b, during.map((s) => `${s}/32`), "the bans made while B was down");
  for (const src of during) await fleet.waitDropped(src, "b");

  // The restarted B banned exactly the three it missed, once each, and none of the five again.
  for (const src of during) assert.equal(linesMatching(db, blockingRe(src)).length, 1, `one "blocking ${src}" after the restart\n${db.tail()}`);
  for (const src of before) assert.deepEqual(linesMatching(db, blockingRe(src)), [], `${src} is not banned again after the restart\n${db.tail()}`);
  assert.doesNotMatch(db.lines.join("\n"), /catching up from the fleet's snapshot/, "B resumed from its stored id, not from the snapshot");
  for (const src of [...before, ...during]) {
    const show = await b.cli("show", [src, "--json"]);
    const view = JSON.parse(show.stdout) as { prefixes: { bans: unknown[] }[] };
    assert.equal(view.prefixes[0]?.bans.length, 1, `B has one ban of ${src} in its history: ${show.stdout}`);
  }

  // The stream: every ban once, from the host that made it; no peer ban came back.
  const stream = await fleet.stream();
  const counts = new Map<string, string[]>();
  for (const e of stream) counts.set(e.fields.prefix ?? "", [...(counts.get(e.fields.prefix ?? "") ?? []), `${e.fields.origin}:${e.fields.kind}`]);
  const want = new Map<string, string[]>([...before, ...during].map((s) => [`${s}/32`, ["a:ban"]]));
  want.set(`${fromB}/32`, ["b:ban"]);
  assert.deepEqual(new Map([...counts].sort()), new Map([...want].sort()), "each ban once in the stream, by its origin");
});
