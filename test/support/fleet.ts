// A fleet on one Linux bridge: three hosts (a, b, c) each running its own
// iblock with its own state dir and nftables, a Redis namespace, and a
// scanner namespace whose many sources (198.18.0.0/15) reach every host.
// The bridge lives in a namespace of its own, so nothing appears in the
// caller's. Only 198.51.100.0/24 and 198.18.0.0/15 are used.
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { createHmac } from "node:crypto";
import { fleetKeys } from "../../src/cluster/keys.js";
import { Instance, REPO_ROOT, type IblockConfig } from "./daemon.js";
import { exec, killNamespace, Prober, spawnIn, uniqueName, type ProbeOutcome } from "./netns.js";
import { run, waitUntil, type LineProcess, type RunResult } from "./proc.js";
import { ACL_PASSWORD, ACL_USER, aclServerArgs } from "./redis-acl.js";

export const HOSTS = ["a", "b", "c"] as const;
export type HostName = (typeof HOSTS)[number];

export const FLEET_ADDR = {
  a: "198.51.100.1",
  b: "198.51.100.2",
  c: "198.51.100.3",
  redis: "198.51.100.10",
  scanner: "198.51.100.100",
} as const;

export const FLEET_NAME = "test";
export const TRAP_PORT = 23;
export const SERVICE_PORT = 8080;
/** A secret every host shares (the test signs its own messages with it). */
export const SECRET = "0123456789abcdef0123456789abcdef";
export const SOURCES = "198.18.0.0/15";

// A plain TCP service on every host: accepts, says "ok", closes.
const SERVICE_SCRIPT = String.raw`
const net = require("node:net");
const srv = net.createServer((s) => { s.on("error", () => {}); s.end("ok\n"); });
srv.listen({ host: "0.0.0.0", port: Number(process.argv[1]), backlog: 4096 }, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

// Runs in the Redis namespace: fills the fleet's snapshot with N signed bans of
// 240.0.0.0/4 (reserved, never routed: set elements only, no packet goes there),
// then the extra addresses' (a test's scanners, to see them dropped).
const FILL_SCRIPT = String.raw`
const { Redis } = require(process.argv[2]);
const { createHmac } = require("node:crypto");
const cfg = JSON.parse(process.argv[1]);
const order = ["origin", "kind", "prefix", "expires", "reason", "port", "at", "seq"];
(async () => {
  const r = new Redis(cfg.url);
  const expires = String(Date.now() + 86400000);
  const at = String(Date.now());
  const seq = String(Date.now() * 1000);
  const total = cfg.n + cfg.extra.length;
  for (let i = 0; i < total; ) {
    const p = r.pipeline();
    for (let k = 0; k < 5000 && i < total; k++, i++) {
      const prefix = i < cfg.n ? "240." + ((i >> 16) & 255) + "." + ((i >> 8) & 255) + "." + (i & 255) + "/32" : cfg.extra[i - cfg.n] + "/32";
      const m = { origin: "a", kind: "ban", prefix, expires, reason: "trap", port: "23", at, seq };
      // As snapshotDetail() writes it: the HMAC, then the text it covers.
      const text = JSON.stringify([cfg.fleet, ...order.map((f) => m[f])]);
      p.zadd(cfg.keys.bans, expires, prefix);
      p.hset(cfg.keys.details, prefix, createHmac("sha256", Buffer.from(cfg.secret)).update(text).digest("hex") + text);
    }
    await p.exec();
  }
  console.log("filled " + total);
  r.disconnect();
})();
`;

export class Fleet {
  readonly ns: Record<HostName | "redis" | "scanner" | "bridge", string>;
  readonly hosts = new Map<HostName, Instance>();
  private readonly children: LineProcess[] = [];
  redis: LineProcess | undefined;
  private readonly denials: string[] = [];
  private prober: Prober | undefined;
  private constructor(readonly dir: string) {
    this.ns = {
      a: uniqueName("fa"),
      b: uniqueName("fb"),
      c: uniqueName("fc"),
      redis: uniqueName("fr"),
      scanner: uniqueName("fs"),
      bridge: uniqueName("fbr"),
    };
  }

  get secretFile(): string {
    return join(this.dir, "cluster.key");
  }

  /** The Redis password of the hosts' ACL user (redis-acl.ts). */
  get passwordFile(): string {
    return join(this.dir, "redis.pw");
  }

  /** The daemons' URL: as the least-privilege ACL user, its password in passwordFile. */
  get redisUrl(): string {
    return `redis://${ACL_USER}@${FLEET_ADDR.redis}:6379/0`;
  }

  /** The test's own: the default user, every command. */
  get adminUrl(): string {
    return `redis://${FLEET_ADDR.redis}:6379/0`;
  }

  /** Without `t` (the bench), the caller calls destroy(). */
  static async create(t?: Pick<TestContext, "after">): Promise<Fleet> {
    const fleet = new Fleet(await mkdtemp(join(tmpdir(), "iblock-fleet-")));
    t?.after(() => fleet.destroy());
    await fleet.build();
    return fleet;
  }

  private async build(): Promise<void> {
    for (const ns of Object.values(this.ns)) {
      await run(["ip", "netns", "add", ns]);
      await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    const br = this.ns.bridge;
    await run(["ip", "-n", br, "link", "add", "br0", "type", "bridge"]);
    await run(["ip", "-n", br, "link", "set", "br0", "up"]);
    const members = [...HOSTS, "redis", "scanner"] as const;
    for (const [i, m] of members.entries()) {
      const port = `p${i}`;
      await run(["ip", "-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", this.ns[m]]);
      await run(["ip", "-n", br, "link", "set", port, "master", "br0", "up"]);
      const batch = [`addr add ${FLEET_ADDR[m]}/24 dev eth0`, "link set eth0 up"];
      // Many scanner sources, bound by AnyIP in the scanner namespace, one next hop for the hosts.
      if (m === "scanner") batch.push(`route add local ${SOURCES} dev lo`);
      else batch.push(`route add ${SOURCES} via ${FLEET_ADDR.scanner} dev eth0`);
      await run(["ip", "-n", this.ns[m], "-batch", "-"], { input: batch.join("\n") + "\n" });
    }
    await writeFile(this.secretFile, SECRET + "\n");
    await chmod(this.secretFile, 0o600);
    await writeFile(this.passwordFile, ACL_PASSWORD + "\n");
    await chmod(this.passwordFile, 0o600);
    for (const h of HOSTS) {
      const svc = this.spawn(this.ns[h], [process.execPath, "-e", SERVICE_SCRIPT, String(SERVICE_PORT)]);
      await svc.waitForLine(/^listening$/, 10_000);
    }
    await this.startRedis();
  }

  spawn(ns: string, argv: readonly string[]): LineProcess {
    const p = spawnIn(ns, argv);
    this.children.push(p);
    return p;
  }

  /** redis-server in its namespace, no persistence of its own (SHUTDOWN SAVE writes one dump, see stopRedis). */
  async startRedis(): Promise<void> {
    this.redis = this.spawn(this.ns.redis, [
      "redis-server", "--save", "", "--appendonly", "no", "--port", "6379", "--bind", FLEET_ADDR.redis, "--dir", this.dir,
      // Without a password Redis answers only loopback unless told otherwise; the namespace is the fence here.
      "--protected-mode", "no",
      // The hosts' user; the default user stays the test's (redisCli, fillSnapshot).
      ...aclServerArgs(),
    ]);
    await this.redis.waitForLine(/Ready to accept connections/, 10_000);
  }

  /** Stop Redis; `keep` writes its data to the temp dir first, so the next start has it (a maintenance restart). */
  async stopRedis(keep = true): Promise<void> {
    await this.noteAclDenials();
    await this.redisCli(["SHUTDOWN", keep ? "SAVE" : "NOSAVE"], undefined, false);
    await this.redis?.stop("SIGTERM", 10_000);
    this.redis = undefined;
  }

  /** Kill Redis at once (SIGKILL): the next start has what the last SAVE wrote, if anything. */
  async killRedis(): Promise<void> {
    await this.noteAclDenials();
    await this.redis?.stop("SIGKILL", 10_000);
    this.redis = undefined;
  }

  redisCli(args: readonly string[], input?: string, check = true): Promise<RunResult> {
    return exec(this.ns.redis, ["redis-cli", "-h", FLEET_ADDR.redis, ...(input === undefined ? [] : ["-x"]), ...args], { input, check, timeoutMs: 30_000 });
  }

  /** `n` bans of host a in the snapshot (not the stream), and one of each `extra` address. */
  async fillSnapshot(n: number, extra: readonly string[] = []): Promise<void> {
    const ioredis = join(REPO_ROOT, "node_modules", "ioredis");
    const cfg = { url: this.adminUrl, n, extra, secret: SECRET, fleet: FLEET_NAME, keys: fleetKeys(FLEET_NAME) };
    const fill = this.spawn(this.ns.redis, [process.execPath, "-e", FILL_SCRIPT, JSON.stringify(cfg), ioredis]);
    await fill.waitForLine(/^filled/, 30 * 60_000);
  }

  /** Every entry of the fleet's stream: [id, fields]. */
  async stream(): Promise<{ id: string; fields: Record<string, string> }[]> {
    const r = await this.redisCli(["--json", "XRANGE", `iblock:{${FLEET_NAME}}:events`, "-", "+"]);
    const parsed = JSON.parse(r.stdout || "[]") as [string, string[]][];
    return parsed.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
      return { id, fields };
    });
  }

  /** Config and state dir of host `h` (not started); `extra` goes over the defaults. */
  async host(t: Pick<TestContext, "after"> | undefined, h: HostName, extra: IblockConfig = {}, cluster: Record<string, unknown> = {}): Promise<Instance> {
    const inst = new Instance(this.ns[h], await mkdtemp(join(this.dir, `host-${h}-`)));
    t?.after(() => inst.cleanup());
    const config = {
      trap_ports: [TRAP_PORT],
      ...extra,
      cluster: { redis: this.redisUrl, password_file: this.passwordFile, name: FLEET_NAME, node: h, secret_file: this.secretFile, ...cluster },
    } as unknown as IblockConfig;
    await inst.writeConfig(config);
    this.hosts.set(h, inst);
    return inst;
  }

  /** A TCP connect from `src` (in the scanner namespace) to host `h`. */
  probe(src: string, h: HostName, port: number, timeoutMs: number): Promise<ProbeOutcome> {
    this.prober ??= Prober.start(this.ns.scanner);
    return this.prober.probe({ src, dst: FLEET_ADDR[h], port, timeoutMs });
  }

  /** Within `timeoutMs`, `src`'s connects to host `h`'s service stop being answered. */
  async waitDropped(src: string, h: HostName, timeoutMs = 15_000): Promise<void> {
    await waitUntil(async () => (await this.probe(src, h, SERVICE_PORT, 200)) === "timeout", {
      timeoutMs,
      intervalMs: 20,
      what: `${src} to be dropped by host ${h}`,
    });
  }

  /**
   * `src` touches A's trap: dropped on A, and on B within `timeoutMs` as a
   * peer's ban. `logs`: the daemons whose tails a failure shows.
   */
  async sharedFromA(src: string, b: Instance, logs: readonly { tail(): string }[], timeoutMs = 15_000): Promise<void> {
    const hit = await this.probe(src, "a", TRAP_PORT, 2000);
    assert.ok(hit === "connected" || hit === "reset", `the trap on A answers the handshake (${hit})`);
    await this.waitDropped(src, "a");
    await this.waitDropped(src, "b", timeoutMs).catch((e: Error) => assert.fail([e.message, ...logs.map((d) => d.tail())].join("\n")));
    assert.equal((await b.list()).find((e) => e.prefix === `${src}/32`)?.source, "peer", `B holds ${src} as a peer's ban`);
  }

  /**
   * What Redis on `port` refused the hosts' ACL user (ACL LOG): a command
   * iblock sends outside the rule, even one whose error the daemon swallows
   * (the heartbeat's), fails the test that made the fleet.
   */
  async aclDenials(port = 6379, auth: readonly string[] = []): Promise<string> {
    const r = await exec(this.ns.redis, ["redis-cli", "-h", FLEET_ADDR.redis, "-p", String(port), ...auth, "ACL", "LOG"], { timeoutMs: 10_000 });
    return r.stdout.trim();
  }

  /** What the fleet's Redis refused the hosts, read before it stops (its ACL LOG goes with it); destroy() fails on any. */
  private async noteAclDenials(): Promise<void> {
    if (!this.redis?.running) return;
    const denied = await this.aclDenials().catch((e: Error) => `ACL LOG unread: ${e.message}`);
    if (denied !== "") this.denials.push(denied);
  }

  async destroy(): Promise<void> {
    try {
      await this.noteAclDenials();
    } finally {
      await this.teardown();
    }
    assert.deepEqual(this.denials, [], `Redis refused the hosts' ACL user (docs/redis-acl.md)`);
  }

  private async teardown(): Promise<void> {
    this.prober?.close();
    for (const inst of this.hosts.values()) await inst.cleanup();
    await Promise.all(this.children.map((c) => c.stop("SIGTERM", 3000)));
    for (const ns of Object.values(this.ns)) await killNamespace(ns);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Sign a message as a host with the fleet's secret would (for hostile-message tests). */
export function signFields(fields: Record<string, string>, secret = SECRET): string {
  const order = ["origin", "kind", "prefix", "expires", "reason", "port", "at", "seq"];
  return createHmac("sha256", Buffer.from(secret)).update(JSON.stringify([FLEET_NAME, ...order.map((k) => fields[k])])).digest("hex");
}

// Runs in the scanner namespace: each source connects once to `port` of `dst`,
// spread evenly over `spreadMs`; prints counts as one JSON line.
const STORM_SCRIPT = String.raw`
const net = require("node:net");
const cfg = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
const out = { connected: 0, timeout: 0, other: 0 };
function connect(src) {
  return new Promise((resolve) => {
    const s = net.connect({ host: cfg.dst, port: cfg.port, localAddress: src });
    let done = false;
    const fin = (k) => { if (done) return; done = true; clearTimeout(t); s.destroy(); out[k]++; resolve(); };
    // After the I/O due by then: a process held up past the timer still sees an answer that came in time.
    const t = setTimeout(() => setImmediate(() => fin("timeout")), cfg.timeoutMs);
    s.once("connect", () => fin("connected"));
    s.on("error", (e) => fin(e.code === "ECONNRESET" ? "connected" : "other"));
  });
}
(async () => {
  const gap = cfg.spreadMs / cfg.sources.length;
  const t0 = Date.now();
  const all = [];
  for (const [i, src] of cfg.sources.entries()) {
    const wait = t0 + i * gap - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    all.push(connect(src));
  }
  await Promise.all(all);
  console.log(JSON.stringify(out));
})();
`;

export interface StormCounts {
  /** Handshakes completed (a reset right after counts). */
  connected: number;
  /** No answer at all: dropped. */
  timeout: number;
  other: number;
}

/** Each source connects once to `port` of host `h`, spread over `spreadMs`. */
export async function connectEach(fleet: Fleet, h: HostName, sources: readonly string[], port: number, opts: { spreadMs?: number; timeoutMs?: number } = {}): Promise<StormCounts> {
  const file = join(fleet.dir, `storm-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({ dst: FLEET_ADDR[h], port, sources, spreadMs: opts.spreadMs ?? 0, timeoutMs: opts.timeoutMs ?? 3000 }));
  const p = fleet.spawn(fleet.ns.scanner, [process.execPath, "-e", STORM_SCRIPT, file]);
  return JSON.parse(await p.waitForLine(/^\{/, 120_000)) as StormCounts;
}
