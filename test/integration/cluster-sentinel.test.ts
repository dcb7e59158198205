// Two hosts find Redis through Sentinel (a redis-sentinel:// URL): a master,
// a replica and three sentinels, real redis-server processes in the fleet's
// Redis namespace; the daemons log in to the data nodes as the ACL user of
// docs/redis-acl.md and to the sentinels with a password of their own (in
// the URL, percent-encoded). A scanner that touches a trap on A is dropped by B; then
// the master is killed (SIGKILL), the sentinels promote the replica, both
// daemons reconnect to it by asking the sentinels again, and a new ban on A
// still reaches B (real packets from the scanner namespace).
import assert from "node:assert/strict";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { connectEach, FLEET_NAME, SOURCES, TRAP_PORT } from "../support/fleet.js";
import { bannedElements, countV4Within } from "../support/nft.js";
import { waitUntil } from "../support/proc.js";
import { AUTH, DATA_PASSWORD, HOST, MASTER_PORT, redisCli, REPLICA_PORT, SENTINEL_PASSWORD, sentinelFleet, sentinelHost, waitPromoted } from "../support/sentinel.js";
import { stormSource } from "../support/storm.js";

// Sources that touch A's trap around the failover, over this long.
const STORM = 1000;
const STORM_SPREAD_MS = 6_000;

void test("Sentinel: bans are shared through the master the sentinels name, also after a failover", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  // The daemons log in to the data nodes as the ACL user (its password in password_file); the sentinels' password stays in the URL.
  const { fleet, b, da, db } = await sentinelFleet(t);

  const first = stormSource(0);
  await fleet.sharedFromA(first, b, [db]);

  // A storm of STORM sources touches A's trap; a second into it the master dies without a word
  // (SIGKILL); the sentinels agree it is down (1 s) and promote the replica while A goes on banning.
  const storm = Array.from({ length: STORM }, (_, i) => stormSource(1000 + i));
  const storming = connectEach(fleet, "a", storm, TRAP_PORT, { spreadMs: STORM_SPREAD_MS, timeoutMs: 3000 });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await fleet.aclDenials(MASTER_PORT, AUTH), "", "the master refused the hosts' ACL user nothing");
  await fleet.redis?.stop("SIGKILL", 5_000);
  const killedAt = Date.now();
  // C starts during the outage: it must catch up once the new master answers.
  const c = await sentinelHost(fleet, t, "c");
  const dc = await c.start();
  await waitPromoted(fleet);
  const promotedMs = Date.now() - killedAt;
  for (const d of [da, db]) {
    await d.waitForLine(/cluster: Redis is back after/, 30_000).catch((e: Error) => assert.fail(`${e.message}\n${d.tail()}`));
  }
  const backMs = Date.now() - killedAt;
  t.diagnostic(`replica promoted ${promotedMs} ms after the kill; both daemons back ${backMs} ms after it`);
  const hits = await storming;
  assert.equal(hits.other, 0, `every storm source reached A's trap: ${JSON.stringify(hits)}`);

  // Every storm ban is on B and C once: in the store (one row per prefix, a peer's) and in the firewall.
  const banned = new Set([first, ...storm].map((s) => `${s}/32`));
  for (const [h, inst, d] of [["b", b, db], ["c", c, dc]] as const) {
    await waitUntil(async () => (await inst.list()).filter((e) => banned.has(e.prefix) && e.source === "peer").length === banned.size, {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: `${h} to hold all ${banned.size} bans of A\n${d.tail()}`,
    });
    const rows = (await inst.list()).filter((e) => banned.has(e.prefix));
    assert.equal(rows.length, banned.size, `${h}: one row per prefix`);
    assert.equal(countV4Within(await bannedElements(fleet.ns[h]), SOURCES), banned.size, `${h}: one firewall element per prefix`);
  }
  // Real packets: a few storm sources, the first and the last, dropped by B and C.
  for (const src of [storm[0], storm[STORM / 2], storm[STORM - 1]] as string[]) for (const h of ["b", "c"] as const) await fleet.waitDropped(src, h);
  // C had no position: it read the new master's snapshot, once.
  assert.equal(linesMatching(dc, /caught up from the snapshot/).length, 1, dc.tail());
  // One line per failover on A and B (the outage's own lines aside), and the metric and status name the new primary.
  for (const d of [da, db]) assert.equal(linesMatching(d, /cluster: Redis's primary is now 198\.51\.100\.10:6380 \(was 198\.51\.100\.10:6379\): a failover/).length, 1, d.tail());
  const status = JSON.parse((await b.cli("cluster", ["status", "--json"])).stdout) as { primary: string | null };
  assert.equal(status.primary, `${HOST}:${REPLICA_PORT}`);
  assert.match((await b.cli("cluster", ["status"])).stdout, new RegExp(`^primary in use: ${HOST.replaceAll(".", "\\.")}:${REPLICA_PORT}$`, "m"));

  // A new ban on A reaches B through the new master.
  const second = stormSource(1);
  await fleet.sharedFromA(second, b, [db], 10_000);
  // The new master holds both bans in the fleet's stream: the first came over by replication.
  const stream = await redisCli(fleet, REPLICA_PORT, ["XRANGE", `iblock:{${FLEET_NAME}}:events`, "-", "+"]);
  for (const s of [first, second]) assert.ok(stream.includes(`${s}/32`), `the promoted replica's stream holds ${s}: ${stream}`);
  assert.equal(await fleet.aclDenials(REPLICA_PORT, AUTH), "", "the new master refused the hosts' ACL user nothing");
  // One outage and one recovery said by each daemon; nothing refused; no password in any log line.
  for (const d of [da, db, dc]) {
    for (const secret of [DATA_PASSWORD, SENTINEL_PASSWORD, encodeURIComponent(DATA_PASSWORD)]) assert.ok(!d.tail(1000).includes(secret), "no password in the log");
    // C, started during the outage, may have found the new master at once.
    const outages = linesMatching(d, /cluster: Redis unreachable/).length;
    assert.ok(d === dc ? outages <= 1 : outages === 1, d.tail());
    assert.deepEqual(linesMatching(d, /cluster: refused/), [], d.tail());
  }
});
