// Redis going away in the middle of a catch-up from the snapshot: the reading
// (on the reader's thread, over a connection of its own) fails, the catch-up
// starts again once Redis is back, and every ban of the snapshot ends up here
// once: none lost, none made twice, the scanners among them dropped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet } from "../support/fleet.js";
import { Holds } from "../support/hold.js";
import { waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

// More than one page of the snapshot (10,000 entries).
const BULK = 30_000;
const SCANNERS = 20;

void test("a catch-up cut short by a Redis outage starts again and ends with every ban once", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const scanners = Array.from({ length: SCANNERS }, (_, i) => stormSource(i));
  await fleet.fillSnapshot(BULK, scanners);
  // Written to disk now: Redis killed later still has it when it starts again.
  await fleet.redisCli(["SAVE"]);
  const total = BULK + SCANNERS;

  const c = await fleet.host(t, "c");
  // The first catch-up is held with its reader connected and nothing read: Redis
  // goes in the middle of it, however fast this machine reads.
  const holds = new Holds(c, ["catch-up"]);
  const dc = await c.start({ readyTimeoutMs: 60_000 });
  await dc.waitForLine(/catching up from the fleet's snapshot \(no position/, 30_000);
  // Killed once the reader is connected: before that, it would only wait for Redis.
  await waitUntil(async () => ((await fleet.redisCli(["CLIENT", "LIST"])).stdout.includes("name=iblock-catchup") ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 20,
    what: "the catch-up's own connection to Redis",
  });
  await fleet.killRedis();
  assert.ok(!dc.lines.some((l) => /caught up from the snapshot/.test(l)), `the first catch-up was still under way when Redis went\n${dc.tail()}`);
  const from = dc.lines.length;
  holds.release("catch-up");
  await fleet.startRedis();

  const done = await dc.waitForLine(/caught up from the snapshot: (\d+) ban\(s\) read/, 300_000, from);
  assert.match(done, new RegExp(`: ${total} ban\\(s\\) read, \\d+ applied`), dc.tail());
  assert.ok(dc.lines.slice(from).some((l) => /catching up from the fleet's snapshot/.test(l)), `the catch-up started again\n${dc.tail()}`);
  const stats = JSON.parse((await c.cli("stats", ["--json"])).stdout) as { active: number; bans_last_24h: number };
  assert.equal(stats.active, total, "every ban of the snapshot is in force here");
  assert.equal(stats.bans_last_24h, total, "and each was made once");
  for (const src of scanners) await fleet.waitDropped(src, "c");
});
