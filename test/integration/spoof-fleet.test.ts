// Forged packets against one host of a fleet publish nothing: the fleet's
// stream gets only the real scanner's ban, and no other host bans a forged
// source. (The forgeries themselves are spoof.test.ts's, from live sources.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_ADDR, SERVICE_PORT, TRAP_PORT } from "../support/fleet.js";
import { attack, PATTERNS, sendSegments, type Flow, type Pattern } from "../support/spoof.js";
import { stormSource } from "../support/storm.js";

void test("a fleet: forged SYN/ACK patterns on host A publish nothing, and B bans none of them", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "python3"])) return;
  const fleet = await Fleet.create(t);
  const [a, b] = [await fleet.host(t, "a"), await fleet.host(t, "b")];
  const [da, db] = [await a.start(), await b.start()];
  for (const d of [da, db]) await d.waitForLine(/cluster: connected to Redis/, 10_000);

  const patterns: Pattern[] = [...[1, 2, 3, 4, 5].map((n) => PATTERNS.synThenAcks(n)), PATTERNS.acksAlone, PATTERNS.dataFinRst, PATTERNS.synThenSweep(60_000)];
  const forged = patterns.map((_, i) => stormSource(100 + i));
  const flows = patterns.map((pattern, i) => ({ flow: { src: forged[i]!, dst: FLEET_ADDR.a, sport: 41_000 + i, dport: TRAP_PORT } satisfies Flow, pattern }));
  await sendSegments(fleet.ns.scanner, attack(flows));

  // A real scanner after them: once B drops it, everything A read before it was published.
  const real = stormSource(0);
  const hit = await fleet.probe(real, "a", TRAP_PORT, 2000);
  assert.ok(hit === "connected" || hit === "reset", `the trap on A answers a real handshake (${hit})`);
  await fleet.waitDropped(real, "b").catch((e: Error) => assert.fail(`${e.message}\n${db.tail()}`));

  const published = (await fleet.stream()).map((e) => e.fields.prefix);
  assert.deepEqual(published, [`${real}/32`], `only the real scanner is in the fleet's stream\n${da.tail()}`);
  assert.deepEqual((await b.list()).map((e) => e.prefix), [`${real}/32`], "B holds only the real scanner's ban");
  for (const src of forged) assert.equal(await fleet.probe(src, "b", SERVICE_PORT, 2000), "connected", `B serves ${src}`);
});
