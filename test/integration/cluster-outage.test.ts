// Redis stopped for 10 s in the middle of a 1,000-source storm on A: A bans
// all of it locally as always (its bans wait in the outbox), says so once,
// and when Redis is back every ban of the storm reaches B and C, once each.
import assert from "node:assert/strict";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { connectEach, Fleet, SERVICE_PORT, TRAP_PORT } from "../support/fleet.js";
import { sleep, waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

const STORM = 1_000;

void test("Redis down 10 s during a 1,000-source storm: nothing lost, nothing doubled", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const [a, b, c] = [await fleet.host(t, "a"), await fleet.host(t, "b"), await fleet.host(t, "c")];
  const [da, db, dc] = [await a.start(), await b.start(), await c.start()];
  for (const d of [da, db, dc]) await d.waitForLine(/caught up from the snapshot/, 10_000);

  const sources = Array.from({ length: STORM }, (_, i) => stormSource(i));
  // Redis goes once A has published some of the storm, and the second half comes while
  // it is away: bans from before and from during the outage, however fast this machine is.
  const [early, late] = [sources.slice(0, STORM / 2), sources.slice(STORM / 2)];
  const storm = connectEach(fleet, "a", early, TRAP_PORT, { spreadMs: 2_000 });
  await waitUntil(async () => (await fleet.stream()).length > 0, { timeoutMs: 30_000, what: "a ban of the storm published" });
  await fleet.stopRedis();
  const stoppedAt = Date.now();
  const rest = await connectEach(fleet, "a", late, TRAP_PORT, { spreadMs: 2_000 });
  const counts = await storm;
  assert.equal(counts.connected + rest.connected, STORM, `every trap handshake completed: ${JSON.stringify([counts, rest])}`);
  // Local banning goes on: A drops the whole storm while Redis is away.
  const onA = await connectEach(fleet, "a", sources, SERVICE_PORT, { timeoutMs: 1_000 });
  assert.equal(onA.timeout, STORM, `A drops every source with Redis down: ${JSON.stringify(onA)}\n${da.tail()}`);
  const status = JSON.parse((await a.cli("stats", ["--json"])).stdout) as { daemon?: { cluster?: { redis: string; outbox: number } } };
  assert.equal(status.daemon?.cluster?.redis, "down", "stats says Redis is down");
  assert.ok((status.daemon.cluster.outbox ?? 0) > 0, `A's outbox holds what waits: ${JSON.stringify(status.daemon.cluster)}`);
  await sleep(Math.max(0, 10_000 - (Date.now() - stoppedAt)));
  await fleet.startRedis();

  for (const [name, inst] of [["B", b], ["C", c]] as const) {
    await waitUntil(async () => (await inst.list()).filter((e) => e.source === "peer").length >= STORM, {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: `all ${STORM} bans of the storm on ${name}`,
    });
  }
  const onC = await connectEach(fleet, "c", sources, SERVICE_PORT, { timeoutMs: 1_000 });
  assert.equal(onC.timeout, STORM, `C drops every source of the storm: ${JSON.stringify(onC)}`);
  const onB = await connectEach(fleet, "b", sources, SERVICE_PORT, { timeoutMs: 1_000 });
  assert.equal(onB.timeout, STORM, `B drops every source of the storm: ${JSON.stringify(onB)}`);
  for (const inst of [b, c]) {
    const peer = (await inst.list()).filter((e) => e.source === "peer").map((e) => e.prefix);
    assert.equal(new Set(peer).size, peer.length, "no prefix twice");
    assert.deepEqual(new Set(peer), new Set(sources.map((s) => `${s}/32`)));
  }
  // In the stream once each, in A's order of banning is not promised, once is.
  const stream = (await fleet.stream()).filter((e) => e.fields.kind === "ban");
  assert.equal(stream.length, STORM, "every ban once in the stream");
  assert.equal(new Set(stream.map((e) => e.fields.prefix)).size, STORM);

  // One line per outage and one per recovery, on every host; the outbox is empty again.
  for (const d of [da, db, dc]) {
    assert.equal(linesMatching(d, /cluster: Redis unreachable/).length, 1, `one outage line\n${d.tail()}`);
    assert.equal(linesMatching(d, /cluster: Redis is back/).length, 1, `one recovery line\n${d.tail()}`);
  }
  await waitUntil(async () => (JSON.parse((await a.cli("stats", ["--json"])).stdout) as { daemon?: { cluster?: { outbox: number } } }).daemon?.cluster?.outbox === 0, {
    timeoutMs: 30_000,
    what: "A's outbox to be empty",
  });
});
