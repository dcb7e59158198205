// Sentinel for the fleet tests: the fleet's Redis as the master, a replica
// and three sentinels, real redis-server processes in the fleet's Redis
// namespace. The data nodes take the ACL user of docs/redis-acl.md; the
// sentinels a password of their own.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { Daemon, Instance } from "./daemon.js";
import { Fleet, FLEET_ADDR, type HostName } from "./fleet.js";
import { exec } from "./netns.js";
import { waitUntil, type LineProcess } from "./proc.js";
import { aclServerArgs, ACL_USER } from "./redis-acl.js";

export const MASTER_NAME = "iblock-test";
export const MASTER_PORT = 6379; // the fleet's own redis-server
export const REPLICA_PORT = 6380;
export const SENTINEL_PORTS = [26379, 26380, 26381] as const;
export const HOST = FLEET_ADDR.redis;
// Passwords with characters the URL must percent-encode; one for the data nodes, one for the sentinels.
export const DATA_PASSWORD = "d@ta/pass:1";
export const SENTINEL_PASSWORD = "s3nt&nel=2";
// The test's own login to the data nodes (the default user, which has the data password).
export const AUTH = ["--no-auth-warning", "-a", DATA_PASSWORD];
const isSentinel = (port: number): boolean => (SENTINEL_PORTS as readonly number[]).includes(port);

/** The daemons' URL: the ACL user on the data nodes (its password in password_file), the sentinels' password in the URL. */
export function sentinelUrl(): string {
  const sentinels = SENTINEL_PORTS.map((p) => `${HOST}:${p}`).join(",");
  return `redis-sentinel://${ACL_USER}:@${sentinels}/${MASTER_NAME}/0?sentinel_password=${encodeURIComponent(SENTINEL_PASSWORD)}`;
}

export async function redisCli(fleet: Fleet, port: number, args: readonly string[]): Promise<string> {
  const password = isSentinel(port) ? SENTINEL_PASSWORD : DATA_PASSWORD;
  return (await exec(fleet.ns.redis, ["redis-cli", "-h", HOST, "-p", String(port), "--no-auth-warning", "-a", password, ...args], { timeoutMs: 10_000 })).stdout;
}

/** SENTINEL MASTER's flat name/value reply as a record. */
async function sentinelView(fleet: Fleet, port: number): Promise<Record<string, string>> {
  const lines = (await redisCli(fleet, port, ["SENTINEL", "MASTER", MASTER_NAME]).catch(() => "")).split("\n");
  const view: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) view[lines[i] as string] = lines[i + 1] as string;
  return view;
}

/** Within `timeoutMs`, the sentinels name the replica as the master. */
export async function waitPromoted(fleet: Fleet, timeoutMs = 30_000): Promise<void> {
  await waitUntil(async () => (await redisCli(fleet, SENTINEL_PORTS[0], ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])).split("\n")[1] === String(REPLICA_PORT), {
    timeoutMs,
    intervalMs: 250,
    what: "the sentinels to promote the replica",
  });
}

/** The replica (synced) and the three sentinels (each knowing it and the two others); the fleet's Redis gets the data password. */
export async function startSentinels(fleet: Fleet): Promise<LineProcess> {
  // The replica keeps its copy in its own dir: a full sync writes dump.rdb there.
  // The fleet's Redis is the master: it gets its password now (the fleet started it without one).
  await fleet.redisCli(["CONFIG", "SET", "requirepass", DATA_PASSWORD]);
  const replicaDir = join(fleet.dir, "replica");
  await mkdir(replicaDir);
  const replica = fleet.spawn(fleet.ns.redis, [
    "redis-server", "--port", String(REPLICA_PORT), "--bind", HOST, "--save", "", "--appendonly", "no",
    "--protected-mode", "no", "--dir", replicaDir, "--replicaof", HOST, String(MASTER_PORT),
    "--requirepass", DATA_PASSWORD, "--masterauth", DATA_PASSWORD, ...aclServerArgs(),
  ]);
  await replica.waitForLine(/MASTER <-> REPLICA sync: Finished with success/, 15_000);
  for (const port of SENTINEL_PORTS) {
    // Sentinel rewrites its config file: one each, in the test's temp dir.
    const dir = join(fleet.dir, `sentinel-${port}`);
    await mkdir(dir);
    const conf = join(dir, "sentinel.conf");
    await writeFile(
      conf,
      [
        `port ${port}`,
        `bind ${HOST}`,
        "protected-mode no",
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} ${HOST} ${MASTER_PORT} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 3000`,
        `sentinel auth-pass ${MASTER_NAME} ${DATA_PASSWORD}`,
        `requirepass ${SENTINEL_PASSWORD}`,
        // What this sentinel says to the others, which ask for the same password.
        `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
        "",
      ].join("\n"),
    );
    const s = fleet.spawn(fleet.ns.redis, ["redis-server", conf, "--sentinel"]);
    await s.waitForLine(/Sentinel ID is|\+monitor master/, 10_000);
  }
  // Every sentinel knows the replica and the two others (they meet through the master's hello channel, every 2 s).
  for (const port of SENTINEL_PORTS) {
    await waitUntil(
      async () => {
        const v = await sentinelView(fleet, port);
        return v["num-slaves"] === "1" && v["num-other-sentinels"] === "2";
      },
      { timeoutMs: 20_000, intervalMs: 250, what: `sentinel ${port} to see the replica and the other sentinels` },
    );
  }
  return replica;
}

/** A host that finds Redis through the sentinels; its config holds a password, so it is its owner's alone (the daemon refuses it otherwise). */
export async function sentinelHost(fleet: Fleet, t: TestContext, h: HostName): Promise<Instance> {
  const inst = await fleet.host(t, h, {}, { redis: sentinelUrl() });
  await chmod(inst.configPath, 0o600);
  return inst;
}

/** The fleet's Redis as a master with a replica and three sentinels, and hosts A and B started on it, caught up. */
export async function sentinelFleet(t: TestContext): Promise<{ fleet: Fleet; a: Instance; b: Instance; da: Daemon; db: Daemon }> {
  const fleet = await Fleet.create(t);
  await startSentinels(fleet);
  const [a, b] = [await sentinelHost(fleet, t, "a"), await sentinelHost(fleet, t, "b")];
  const [da, db] = [await a.start(), await b.start()];
  for (const d of [da, db]) await d.waitForLine(/caught up from the snapshot/, 10_000);
  return { fleet, a, b, da, db };
}
