// A failover loses no ban the master acknowledged but had not replicated.
// Sentinel's master, replica and sentinels are real redis-server processes
// (support/sentinel.ts). The master's replication stream to its replica is
// dropped (nftables, in the Redis namespace) while the replica's
// acknowledgements still reach it: the master goes on counting the replica
// as connected. A bans a scanner, the master takes it and B reads it from
// there, then the master dies (SIGKILL) and the sentinels promote the replica,
// which never got it. A kept it in its outbox (no replica acknowledged it), so
// the new master gets it from A: its stream and snapshot hold it, C, started
// after the failover, drops the scanner, and B holds it once and refuses
// nothing (the resend is a copy B already applied, not a replay).
import assert from "node:assert/strict";
import { test } from "node:test";
import { fleetKeys } from "../../src/cluster/keys.js";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_NAME, SOURCES } from "../support/fleet.js";
import { bannedElements, countV4Within } from "../support/nft.js";
import { exec } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";
import { AUTH, HOST, MASTER_PORT, redisCli, REPLICA_PORT, sentinelFleet, sentinelHost, waitPromoted } from "../support/sentinel.js";
import { stormSource } from "../support/storm.js";

const KEYS = fleetKeys(FLEET_NAME);

/** The local port of the replica's connection to the master, from the master's CLIENT LIST. */
async function replicaLinkPort(fleet: Fleet): Promise<number> {
  const list = await redisCli(fleet, MASTER_PORT, ["CLIENT", "LIST", "TYPE", "replica"]);
  const port = new RegExp(`addr=${HOST.replaceAll(".", "\\.")}:(\\d+) `).exec(list)?.[1];
  assert.ok(port, `the master lists its replica: ${list}`);
  return Number(port);
}

void test("Sentinel: a ban the master acknowledged but never replicated survives its failover, once", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const { fleet, a, b, da, db } = await sentinelFleet(t);

  // Replicated as always: the replica has it.
  const first = stormSource(0);
  await fleet.sharedFromA(first, b, [db]);
  await waitUntil(async () => (await redisCli(fleet, REPLICA_PORT, ["XRANGE", KEYS.events, "-", "+"])).includes(`${first}/32`), {
    timeoutMs: 10_000,
    intervalMs: 100,
    what: "the replica to have the first ban",
  });
  // The replica acknowledged it (WAIT), so A's outbox forgot it.
  const outbox = async (): Promise<number> => (JSON.parse((await a.cli("cluster", ["status", "--json"])).stdout) as { outbox: number }).outbox;
  await waitUntil(async () => (await outbox()) === 0, { timeoutMs: 10_000, intervalMs: 200, what: `A's outbox to forget the first ban\n${da.tail()}` });
  assert.match(await redisCli(fleet, MASTER_PORT, ["INFO", "commandstats"]), /^cmdstat_wait:calls=[1-9]/m, "A waited for the replica");

  // The master's writes to its replica go nowhere from now on; the replica's
  // acknowledgements (of what it had) still reach the master.
  const link = await replicaLinkPort(fleet);
  await exec(fleet.ns.redis, ["nft", "-f", "-"], {
    input: `table inet failover_test { chain out { type filter hook output priority 0; ip daddr ${HOST} tcp sport ${MASTER_PORT} tcp dport ${link} drop; }; }\n`,
  });
  const lost = stormSource(1);
  await fleet.sharedFromA(lost, b, [db]);
  // B dropped it: the master took it. The replica has not, and still counts as online.
  assert.match(await redisCli(fleet, MASTER_PORT, ["ROLE"]), new RegExp(`^${REPLICA_PORT}$`, "m"), "the master still lists its replica");
  assert.ok(!(await redisCli(fleet, REPLICA_PORT, ["XRANGE", KEYS.events, "-", "+"])).includes(`${lost}/32`), "the replica never got the ban");
  assert.equal(await fleet.aclDenials(MASTER_PORT, AUTH), "", "the master refused the hosts' ACL user nothing");

  // A waited for a replica to take it, in vain: it stays in A's outbox.
  await da.waitForLine(/cluster: no replica of Redis's primary took our last 1 message\(s\) within 1 s/, 10_000);
  // A sends it again (and waits again) until a replica has it; the master skips what it has.
  const waits = async (): Promise<number> => Number(/^cmdstat_wait:calls=(\d+)/m.exec(await redisCli(fleet, MASTER_PORT, ["INFO", "commandstats"]))?.[1] ?? 0);
  const waited = await waits();
  await waitUntil(async () => (await waits()) > waited, { timeoutMs: 10_000, intervalMs: 200, what: `A to send the ban again\n${da.tail()}` });
  const onMaster = await redisCli(fleet, MASTER_PORT, ["XRANGE", KEYS.events, "-", "+"]);
  assert.equal(onMaster.split("\n").filter((l) => l === `${lost}/32`).length, 1, `the master's stream holds the resent ban once: ${onMaster}`);
  await fleet.redis?.stop("SIGKILL", 5_000);
  await waitPromoted(fleet);
  for (const d of [da, db]) await d.waitForLine(/cluster: Redis is back after/, 30_000).catch((e: Error) => assert.fail(`${e.message}\n${d.tail()}`));

  // The new master has the ban from A's outbox: in its stream and its snapshot.
  await waitUntil(async () => (await redisCli(fleet, REPLICA_PORT, ["ZSCORE", KEYS.bans, `${lost}/32`])).trim() !== "", {
    timeoutMs: 15_000,
    intervalMs: 100,
    what: `the new master's snapshot to hold ${lost}\n${da.tail()}`,
  });
  const stream = await redisCli(fleet, REPLICA_PORT, ["XRANGE", KEYS.events, "-", "+"]);
  for (const s of [first, lost]) assert.equal(stream.split("\n").filter((l) => l === `${s}/32`).length, 1, `the new master's stream holds ${s} once: ${stream}`);

  // C, started after the failover, catches up from the new master and drops both.
  const c = await sentinelHost(fleet, t, "c");
  const dc = await c.start();
  await dc.waitForLine(/caught up from the snapshot/, 15_000);
  for (const s of [first, lost]) await fleet.waitDropped(s, "c");
  for (const s of [first, lost]) await fleet.waitDropped(s, "b");

  // B holds each once: one row, one firewall element; and A's outbox is empty.
  const rows = (await b.list()).filter((e) => e.prefix === `${first}/32` || e.prefix === `${lost}/32`);
  assert.deepEqual(rows.map((e) => `${e.prefix} ${e.source}`).sort(), [`${first}/32 peer`, `${lost}/32 peer`].sort());
  assert.equal(countV4Within(await bannedElements(fleet.ns.b), SOURCES), 2, "B: one firewall element per ban");
  await waitUntil(async () => (await outbox()) === 0, { timeoutMs: 10_000, intervalMs: 200, what: `A's outbox to empty\n${da.tail()}` });
  // Said once by A, when no replica took the ban; nothing refused anywhere.
  assert.equal(linesMatching(da, /cluster: no replica of Redis's primary took our last 1 message\(s\) within 1 s/).length, 1, da.tail());
  assert.equal(linesMatching(da, /cluster: Redis's primary has no replica online now/).length, 1, da.tail());
  for (const d of [da, db, dc]) assert.deepEqual(linesMatching(d, /cluster: refused/), [], d.tail());
  const status = JSON.parse((await b.cli("cluster", ["status", "--json"])).stdout) as { refused: number };
  assert.equal(status.refused, 0, "B counted no refused message");
  assert.equal(await fleet.aclDenials(REPLICA_PORT, AUTH), "", "the new master refused the hosts' ACL user nothing");
});
