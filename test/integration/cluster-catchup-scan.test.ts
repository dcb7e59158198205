// The firewall scan a daemon makes at start waits for a catch-up from the
// fleet's snapshot under way: that catch-up loads the firewall from the store,
// so a listing meanwhile has nothing to fix and only slows it down. The scan
// comes after it and sees every ban it loaded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet } from "../support/fleet.js";
import { Holds } from "../support/hold.js";
import { sleep } from "../support/proc.js";

const BULK = 20_000;

void test("the scan at start waits for the catch-up under way and then sees all it loaded", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  await fleet.fillSnapshot(BULK);
  const c = await fleet.host(t, "c");
  // The order is made, not hoped for: the scan's turn is held until the catch-up is
  // under way, and the catch-up held until the scan has said it waits for it.
  const holds = new Holds(c, ["start-scan", "catch-up"]);
  const dc = await c.start({ readyTimeoutMs: 60_000 });
  await dc.waitForLine(/catching up from the fleet's snapshot/, 30_000);
  holds.release("start-scan");
  await dc.waitForLine(/the firewall scan at start waits for the catch-up from the fleet's snapshot under way/, 30_000);
  // Held past the scan's delay (2 s): a scan that did not wait would list the firewall now,
  // before the catch-up loaded anything. Only a broken daemon can be told apart by this
  // wait; a slow machine can make it miss one, never fail a daemon that waits.
  await sleep(3_000);
  assert.ok(!dc.lines.some((l) => /caught up from the snapshot|scanned the firewall/.test(l)), `nothing went on while held\n${dc.tail()}`);
  holds.release("catch-up");
  const caught = await dc.waitForLine(/caught up from the snapshot: \d+ ban\(s\) read, \d+ applied, in ([\d.]+) s/, 300_000);
  const scanned = await dc.waitForLine(/scanned the firewall \(start\): (\d+) element\(s\)/, 120_000);
  assert.ok(dc.lines.indexOf(scanned) > dc.lines.indexOf(caught), `the scan came after the catch-up\n${dc.tail()}`);
  // The ban sets' elements: every ban of the snapshot (and the sets' canaries).
  const held = Number(/: (\d+) element/.exec(scanned)?.[1]);
  assert.ok(held >= BULK, `the scan saw every ban loaded (${held} of ${BULK})\n${dc.tail()}`);
});
