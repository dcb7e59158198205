// The firewall scan a daemon makes at start waits for a catch-up from the
// fleet's snapshot under way: that catch-up loads the firewall from the store,
// so a listing meanwhile has nothing to fix and only slows it down. The scan
// comes after it and sees every ban it loaded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet } from "../support/fleet.js";

// Enough that the catch-up is still reading when Redis is paused.
const BULK = 150_000;

void test("the scan at start waits for the catch-up under way and then sees all it loaded", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  await fleet.fillSnapshot(BULK);
  const c = await fleet.host(t, "c");
  const dc = await c.start({ readyTimeoutMs: 60_000 });
  // The scan's delay (2 s) runs from "ready", before the catch-up starts. Redis paused 4 s once the
  // catch-up started holds the catch-up past that delay, however fast this machine reads.
  await dc.waitForLine(/catching up from the fleet's snapshot/, 30_000);
  await fleet.redisCli(["CLIENT", "PAUSE", "4000", "ALL"]);
  await dc.waitForLine(/the firewall scan at start waits for the catch-up from the fleet's snapshot under way/, 30_000);
  const caught = await dc.waitForLine(/caught up from the snapshot: \d+ ban\(s\) read, \d+ applied, in ([\d.]+) s/, 300_000);
  const scanned = await dc.waitForLine(/scanned the firewall \(start\): (\d+) element\(s\)/, 120_000);
  assert.ok(dc.lines.indexOf(scanned) > dc.lines.indexOf(caught), `the scan came after the catch-up\n${dc.tail()}`);
  // The ban sets' elements: every ban of the snapshot (and the sets' canaries).
  const held = Number(/: (\d+) element/.exec(scanned)?.[1]);
  assert.ok(held >= BULK, `the scan saw every ban loaded (${held} of ${BULK})\n${dc.tail()}`);
});
