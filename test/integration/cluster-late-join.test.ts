// A host that joins late, or comes back after the stream was trimmed past
// its position, catches up from the fleet's snapshot: the bans in force, not
// the ones lifted meanwhile.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_NAME, SERVICE_PORT, TRAP_PORT } from "../support/fleet.js";
import { waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

void test("a late host and one the stream was trimmed past catch up from the snapshot", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const [a, b, c] = [await fleet.host(t, "a"), await fleet.host(t, "b"), await fleet.host(t, "c")];
  const da = await a.start();
  let db = await b.start();
  await da.waitForLine(/caught up from the snapshot/, 10_000);
  await db.waitForLine(/caught up from the snapshot/, 10_000);

  const first = Array.from({ length: 5 }, (_, i) => stormSource(i));
  for (const src of first) await fleet.probe(src, "a", TRAP_PORT, 2000);
  for (const src of first) await fleet.waitDropped(src, "b");
  const lifted = first[0] as string;
  assert.equal((await a.cli("unban", [lifted])).code, 0);
  await waitUntil(async () => (await fleet.probe(lifted, "b", SERVICE_PORT, 300)) === "connected", { timeoutMs: 15_000, what: "B to lift it too" });

  // B goes away; A bans two more; the stream is trimmed to nothing.
  await db.stop();
  const second = [stormSource(10), stormSource(11)];
  for (const src of second) await fleet.probe(src, "a", TRAP_PORT, 2000);
  await waitUntil(async () => (await a.list()).length === 6, { timeoutMs: 15_000, what: "A's six bans" });
  await waitUntil(async () => (await a.cli("stats", ["--json"])).stdout.includes('"outbox": 0'), { timeoutMs: 15_000, what: "A's outbox empty" });
  await fleet.redisCli(["XTRIM", `iblock:{${FLEET_NAME}}:events`, "MAXLEN", "0"]);
  assert.equal((await fleet.stream()).length, 0, "the stream is empty");

  // C joins now: only the snapshot can tell it.
  const dc = await c.start();
  await dc.waitForLine(/caught up from the snapshot: 6 ban\(s\) read, 6 applied/, 10_000);
  db = await b.start();
  await db.waitForLine(/catching up from the fleet's snapshot \(the stream was trimmed past our position/, 10_000);
  const inForce = [...first.slice(1), ...second];
  for (const src of inForce) {
    await fleet.waitDropped(src, "c");
    await fleet.waitDropped(src, "b");
  }
  assert.equal(await fleet.probe(lifted, "c", SERVICE_PORT, 2000), "connected", "the lifted ban is not in the snapshot");
  const peerOnC = (await c.list()).filter((e) => e.source === "peer").map((e) => e.prefix).sort();
  assert.deepEqual(peerOnC, inForce.map((s) => `${s}/32`).sort());
  // After the catch-up C reads the stream on: a new ban on A reaches it.
  const later = stormSource(20);
  await fleet.probe(later, "a", TRAP_PORT, 2000);
  await fleet.waitDropped(later, "c");
});
