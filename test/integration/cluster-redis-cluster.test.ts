// Two hosts share bans through a Redis Cluster (a redis-cluster:// URL): real
// redis-server processes in the fleet's Redis namespace, made a cluster by
// redis-cli. With three masters, the URL names two of them, not the one that
// holds the fleet's slot, so the client has to find it; with three masters
// and three replicas, the fleet's master is killed and its replica takes over.
// A scanner that touches a trap on A is dropped by B (real packets from the
// scanner namespace).
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_ADDR, FLEET_NAME, TRAP_PORT } from "../support/fleet.js";
import { exec } from "../support/netns.js";
import { waitUntil, type LineProcess } from "../support/proc.js";
import { aclServerArgs, ACL_USER } from "../support/redis-acl.js";
import { stormSource } from "../support/storm.js";

const PORTS = [7000, 7001, 7002];
// Three masters, each with a replica.
const PORTS_WITH_REPLICAS = [7000, 7001, 7002, 7003, 7004, 7005];
const HOST = FLEET_ADDR.redis;
const EVENTS = `iblock:{${FLEET_NAME}}:events`;

async function redisCli(fleet: Fleet, args: readonly string[]): Promise<string> {
  const r = await exec(fleet.ns.redis, ["redis-cli", "-h", HOST, ...args], { timeoutMs: 30_000, check: false });
  return `${r.stdout}${r.stderr}`;
}

async function startCluster(fleet: Fleet, ports: readonly number[], replicas: number): Promise<Map<number, LineProcess>> {
  const nodes = new Map<number, LineProcess>();
  for (const port of ports) {
    const dir = join(fleet.dir, `node-${port}`);
    await mkdir(dir);
    const node = fleet.spawn(fleet.ns.redis, [
      "redis-server", "--port", String(port), "--bind", HOST, "--protected-mode", "no", "--save", "", "--appendonly", "no",
      "--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "2000",
      ...aclServerArgs(),
    ]);
    await node.waitForLine(/Ready to accept connections/, 10_000);
    nodes.set(port, node);
  }
  const created = await redisCli(fleet, ["--cluster", "create", ...ports.map((p) => `${HOST}:${p}`), "--cluster-replicas", String(replicas), "--cluster-yes"]);
  assert.match(created, /All 16384 slots covered/, created);
  for (const port of ports) {
    await waitUntil(async () => /cluster_state:ok/.test(await redisCli(fleet, ["-p", String(port), "CLUSTER", "INFO"])), {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: `node ${port} to say cluster_state:ok`,
    });
    // A replica that never finished its first sync may not take over (its data counts as too old).
    await waitUntil(async () => /role:master|master_link_status:up/.test(await redisCli(fleet, ["-p", String(port), "INFO", "replication"])), {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: `node ${port} to be a master or a replica in sync`,
    });
  }
  return nodes;
}

/** The node that serves the fleet's slot: the others answer MOVED. */
async function slotOwner(fleet: Fleet, ports: readonly number[] = PORTS): Promise<number> {
  const owners: number[] = [];
  for (const port of ports) if (!/MOVED/.test(await redisCli(fleet, ["-p", String(port), "TYPE", EVENTS]))) owners.push(port);
  assert.equal(owners.length, 1, `one node serves ${EVENTS}: ${owners.join(", ")}`);
  return owners[0] as number;
}

void test("Redis Cluster: a ban on A reaches B through the node that holds the fleet's slot", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  await startCluster(fleet, PORTS, 0);
  const owner = await slotOwner(fleet);
  const url = `redis-cluster://${ACL_USER}:@${PORTS.filter((p) => p !== owner).map((p) => `${HOST}:${p}`).join(",")}`;
  const [a, b] = [await fleet.host(t, "a", {}, { redis: url }), await fleet.host(t, "b", {}, { redis: url })];
  const [da, db] = [await a.start(), await b.start()];
  // Both have read the (empty) snapshot by HSCAN: what follows comes by the blocking XREAD.
  for (const d of [da, db]) await d.waitForLine(/caught up from the snapshot/, 10_000);

  const scanner = stormSource(0);
  await fleet.sharedFromA(scanner, b, [db]);

  // The stream, the snapshot and the node list are on the owner, which the URL did not name.
  const stream = await redisCli(fleet, ["-p", String(owner), "XRANGE", EVENTS, "-", "+"]);
  assert.ok(stream.includes(`${scanner}/32`), `node ${owner} holds the ban in the stream: ${stream}`);
  const nodes = await redisCli(fleet, ["-p", String(owner), "HKEYS", `iblock:{${FLEET_NAME}}:nodes`]);
  assert.match(nodes, /^seen:a$/m, `A's heartbeat is on node ${owner}: ${nodes}`);

  // An unban on A lifts B's ban too; `iblock cluster status` on B sees A.
  assert.equal((await a.cli("unban", [scanner])).code, 0);
  await waitUntil(async () => (await fleet.probe(scanner, "b", 8080, 300)) === "connected", { timeoutMs: 15_000, intervalMs: 50, what: `B to serve ${scanner} again\n${db.tail()}` });
  const status = await b.cli("cluster", ["status", "--json"]);
  const view = JSON.parse(status.stdout) as { redis: string; outbox: number; peers: { node: string }[] };
  assert.equal(view.redis, "up", status.stdout);
  assert.ok(view.peers.some((p) => p.node === "a"), `B sees A: ${status.stdout}`);
  for (const d of [da, db]) {
    assert.deepEqual(linesMatching(d, /cluster: Redis unreachable|cluster: refused/), [], d.tail());
  }
});

void test("Redis Cluster: the fleet's master fails, its replica takes over, bans are shared again", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const nodes = await startCluster(fleet, PORTS_WITH_REPLICAS, 1);
  const owner = await slotOwner(fleet, PORTS_WITH_REPLICAS);
  const url = `redis-cluster://${ACL_USER}:@${PORTS_WITH_REPLICAS.map((p) => `${HOST}:${p}`).join(",")}`;
  const [a, b] = [await fleet.host(t, "a", {}, { redis: url }), await fleet.host(t, "b", {}, { redis: url })];
  const [da, db] = [await a.start(), await b.start()];
  for (const d of [da, db]) await d.waitForLine(/caught up from the snapshot/, 10_000);
  const first = stormSource(0);
  await fleet.probe(first, "a", TRAP_PORT, 2000);
  await fleet.waitDropped(first, "b").catch((e: Error) => assert.fail(`${e.message}\n${db.tail()}`));

  await nodes.get(owner)?.stop("SIGKILL", 5_000);
  const killedAt = Date.now();
  const alive = PORTS_WITH_REPLICAS.filter((p) => p !== owner);
  await waitUntil(async () => (await slotOwner(fleet, alive).catch(() => undefined)) !== undefined, { timeoutMs: 30_000, intervalMs: 250, what: "a replica to take the fleet's slot" }).catch(async (e: Error) => assert.fail(`${e.message}\n${await redisCli(fleet, ["-p", String(alive[0]), "CLUSTER", "NODES"])}\n${alive.map((p) => nodes.get(p)?.tail(20)).join("\n")}`));
  const promotedMs = Date.now() - killedAt;
  const second = stormSource(1);
  await fleet.probe(second, "a", TRAP_PORT, 2000);
  await fleet.waitDropped(second, "a");
  await fleet.waitDropped(second, "b", 15_000).catch((e: Error) => assert.fail(`${e.message}\n${da.tail()}\n${db.tail()}`));
  t.diagnostic(`replica took the slot ${promotedMs} ms after the kill; the new ban dropped on B ${Date.now() - killedAt} ms after it`);
  assert.equal((await b.list()).find((e) => e.prefix === `${second}/32`)?.source, "peer", "B holds the new ban as a peer's ban");
  // The new master's stream holds both: the first came over by replication.
  const newOwner = await slotOwner(fleet, alive);
  const stream = await redisCli(fleet, ["-p", String(newOwner), "XRANGE", EVENTS, "-", "+"]);
  for (const s of [first, second]) assert.ok(stream.includes(`${s}/32`), `the promoted replica's stream holds ${s}: ${stream}`);
  for (const d of [da, db]) assert.deepEqual(linesMatching(d, /cluster: refused/), [], d.tail());
});
