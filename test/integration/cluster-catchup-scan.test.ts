// The firewall scan a daemon makes at start waits for a catch-up from the
// fleet's snapshot under way: that catch-up loads the firewall from the store,
// so a listing meanwhile has nothing to fix and only slows it down. The scan
// comes after it and sees every ban it loaded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet } from "../support/fleet.js";

// Enough that the catch-up outlasts the scan's delay at start (2 s) by far.
const BULK = 150_000;

void test("the scan at start waits for the catch-up under way and then sees all it loaded", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  await fleet.fillSnapshot(BULK);
  const c = await fleet.host(t, "c");
  const dc = await c.start({ readyTimeoutMs: 60_000 });
  const caught = await dc.waitForLine(/caught up from the snapshot: \d+ ban\(s\) read, \d+ applied, in ([\d.]+) s/, 300_000);
  const seconds = Number(/in ([\d.]+) s$/.exec(caught)?.[1]);
  assert.ok(seconds > 2, `the catch-up took longer than the scan's delay (${seconds} s)\n${dc.tail()}`);
  const scanned = await dc.waitForLine(/scanned the firewall \(start\): (\d+) element\(s\)/, 120_000);
  assert.ok(dc.lines.indexOf(scanned) > dc.lines.indexOf(caught), `the scan came after the catch-up\n${dc.tail()}`);
  // The ban sets' elements: every ban of the snapshot (and the sets' canaries).
  const held = Number(/: (\d+) element/.exec(scanned)?.[1]);
  assert.ok(held >= BULK, `the scan saw every ban loaded (${held} of ${BULK})\n${dc.tail()}`);
});
