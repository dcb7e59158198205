// `npm run bench -- fleet20`: twenty daemons in namespaces on one bridge
// sharing bans through one redis-server (as the ACL user of docs/redis-acl.md).
// Prints: each daemon's CPU at idle over 30 s with nothing banned (from
// /proc/PID/stat: the daemon, the children it ran and its nft session); propagation from a trap touch on host 0 to dropped on each
// of the 19 others (p50/p99 over every scanner and host; the first scanner,
// after the quiet minutes, apart), with the 19 receiving daemons' CPU over that
// time per scanner; Redis's CPU and
// memory (INFO memory) per 100,000 bans in force, from an `iblock import` of
// FLEET20_BANS addresses (default 20,000) on host 0 published to the fleet.
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Instance, type Daemon, type IblockConfig } from "../test/support/daemon.js";
import { FLEET_NAME, SECRET, SERVICE_PORT, SOURCES, TRAP_PORT } from "../test/support/fleet.js";
import { exec, killNamespace, spawnIn, uniqueName } from "../test/support/netns.js";
import { run, waitUntil, type LineProcess } from "../test/support/proc.js";
import { ACL_PASSWORD, ACL_USER, aclServerArgs } from "../test/support/redis-acl.js";
import { stormSource } from "../test/support/storm.js";

const HOSTS = 20;
const SCANNERS = 20;
const IDLE_S = 30;
const STARTED_QUIET_MS = 65_000;
const UNANSWERED_MS = 20;
// Between two probes of one host: the figures are this much coarse.
const PROBE_GAP_MS = 10;
const MAX_MS = 5_000;
const REDIS = "198.51.100.10";
const SCANNER = "198.51.100.100";
const hostAddr = (i: number): string => `198.51.100.${21 + i}`;
const TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

const SERVICE = `require("node:net").createServer((s) => { s.on("error", () => {}); s.end("ok\\n"); }).listen({ host: "0.0.0.0", port: ${SERVICE_PORT}, backlog: 4096 }, () => console.log("listening"))`;

// In the scanner namespace: per source, check every other host serves it, touch host 0's
// trap, then probe each other host's service every PROBE_GAP_MS until it stops answering (confirmed).
const PROBE = String.raw`
const net = require("node:net");
const cfg = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
const now = () => performance.now();
const connect = (src, dst, port, ms) => new Promise((resolve) => {
  const s = net.connect({ host: dst, port, localAddress: src });
  let done = false;
  const fin = (o) => { if (done) return; done = true; clearTimeout(t); s.destroy(); resolve(o); };
  const t = setTimeout(() => fin("timeout"), ms);
  s.once("connect", () => fin("connected"));
  s.on("error", (e) => fin(e.code === "ECONNRESET" ? "connected" : e.code || "error"));
});
(async () => {
  const out = [];
  for (const src of cfg.sources) {
    const before = await Promise.all(cfg.far.map((dst) => connect(src, dst, cfg.servicePort, 1000)));
    if (before.some((o) => o !== "connected")) { out.push({ src, error: "not served everywhere before: " + before.join(",") }); continue; }
    const trap = await connect(src, cfg.near, cfg.trapPort, 1000);
    const t1 = now();
    if (trap !== "connected") { out.push({ src, error: "trap " + trap }); continue; }
    const ms = await Promise.all(cfg.far.map(async (dst) => {
      while (now() - t1 < cfg.maxMs) {
        const t0 = now();
        // A probe the busy machine was slow to answer is not a drop: a second, patient one confirms it.
        if ((await connect(src, dst, cfg.servicePort, cfg.unansweredMs)) === "timeout" && (await connect(src, dst, cfg.servicePort, 500)) === "timeout") return t0 - t1;
        // Paced: 19 hosts probed back to back would load the two cores the daemons share.
        await new Promise((r) => setTimeout(r, cfg.gapMs));
      }
      return null;
    }));
    out.push({ src, ms });
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(JSON.stringify(out));
})();
`;

async function cpuTicks(pid: number, { children = false } = {}): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  // utime, stime (fields 14 and 15); cutime, cstime (16 and 17): the children it has waited for (ss, conntrack).
  return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
}

/** A daemon's CPU: its own, its children's that ended, and its live children's (the nft session). */
async function daemonTicks(pid: number): Promise<number> {
  let total = await cpuTicks(pid, { children: true });
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const kids = (await readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "")).split(" ").filter(Boolean);
    for (const kid of kids) total += await cpuTicks(Number(kid), { children: true }).catch(() => 0);
  }
  return total;
}

const quantile = (sorted: readonly number[], q: number): number | null => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? null) : null);
const r1 = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);

export interface Fleet20 {
  hosts: number;
  idleCpuPercent: { max: number; mean: number };
  propagation: { pairs: number; dropped: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null; errors: string[]; afterQuiet: { p50Ms: number | null; maxMs: number | null }; busy: { p50Ms: number | null; p99Ms: number | null }; receiverMsPerScanner: number };
  redis: { bans: number; cpuSecondsPer100k: number; memoryMbPer100k: number; publishedInS: number } | { error: string };
}

export async function fleet20Bench(): Promise<Fleet20> {
  const dir = await mkdtemp(join(tmpdir(), "iblock-fleet20-"));
  const ns = { bridge: uniqueName("f2b"), redis: uniqueName("f2r"), scanner: uniqueName("f2s"), hosts: Array.from({ length: HOSTS }, () => uniqueName("f2h")) };
  const children: LineProcess[] = [];
  const daemons: Daemon[] = [];
  const spawn = (n: string, argv: readonly string[]): LineProcess => {
    const p = spawnIn(n, argv);
    children.push(p);
    return p;
  };
  try {
    const all = [ns.redis, ns.scanner, ...ns.hosts];
    await run(["ip", "netns", "add", ns.bridge]);
    await run(["ip", "-n", ns.bridge, "-batch", "-"], { input: "link add br0 type bridge\nlink set br0 up\n" });
    for (const [i, n] of all.entries()) {
      await run(["ip", "netns", "add", n]);
      await run(["ip", "-n", ns.bridge, "link", "add", `p${i}`, "type", "veth", "peer", "name", "eth0", "netns", n]);
      await run(["ip", "-n", ns.bridge, "link", "set", `p${i}`, "master", "br0", "up"]);
      const addr = n === ns.redis ? REDIS : n === ns.scanner ? SCANNER : hostAddr(i - 2);
      const route = n === ns.scanner ? `route add local ${SOURCES} dev lo` : `route add ${SOURCES} via ${SCANNER} dev eth0`;
      await run(["ip", "-n", n, "-batch", "-"], { input: `link set lo up\naddr add ${addr}/24 dev eth0\nlink set eth0 up\n${route}\n` });
    }
    const redis = spawn(ns.redis, ["redis-server", "--save", "", "--appendonly", "no", "--port", "6379", "--bind", REDIS, "--protected-mode", "no", "--dir", dir, ...aclServerArgs()]);
    await redis.waitForLine(/Ready to accept connections/, 10_000);
    const secretFile = join(dir, "cluster.key");
    const passwordFile = join(dir, "redis.pw");
    await writeFile(secretFile, SECRET + "\n");
    await writeFile(passwordFile, ACL_PASSWORD + "\n");
    for (const f of [secretFile, passwordFile]) await chmod(f, 0o600);
    const instances: Instance[] = [];
    for (const [i, n] of ns.hosts.entries()) {
      await spawn(n, [process.execPath, "-e", SERVICE]).waitForLine(/^listening$/, 20_000);
      const inst = new Instance(n, await mkdtemp(join(dir, `host-${i}-`)));
      await inst.writeConfig({
        trap_ports: [TRAP_PORT],
        cluster: { redis: `redis://${ACL_USER}@${REDIS}:6379/0`, password_file: passwordFile, name: FLEET_NAME, node: `h${i}`, secret_file: secretFile, share: ["trap", "kernel", "cli", "api", "import"] },
      } as unknown as IblockConfig);
      instances.push(inst);
      daemons.push(await inst.start({ readyTimeoutMs: 60_000 }));
    }
    for (const d of daemons) await d.waitForLine(/caught up from the snapshot/, 60_000);

    // Idle: nothing banned, nothing happening, for IDLE_S; from a minute after the
    // last start, when the daemons stop timing their event loops (util/loop-stall.ts).
    await new Promise((r) => setTimeout(r, STARTED_QUIET_MS));
    const pids = daemons.map((d) => d.proc.child.pid as number);
    const before = await Promise.all(pids.map(daemonTicks));
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const after = await Promise.all(pids.map(daemonTicks));
    const idle = after.map((a, i) => ((a - (before[i] as number)) / TICKS / IDLE_S) * 100);

    const file = join(dir, "probe.json");
    await writeFile(file, JSON.stringify({ sources: Array.from({ length: SCANNERS }, (_, i) => stormSource(i)), near: hostAddr(0), far: ns.hosts.slice(1).map((_, i) => hostAddr(i + 1)), trapPort: TRAP_PORT, servicePort: SERVICE_PORT, unansweredMs: UNANSWERED_MS, gapMs: PROBE_GAP_MS, maxMs: MAX_MS }));
    const farPids = pids.slice(1);
    const cpuBefore = await Promise.all(farPids.map(daemonTicks));
    const probe = spawn(ns.scanner, [process.execPath, "-e", PROBE, file]);
    const results = JSON.parse(await probe.waitForLine(/^\[/, SCANNERS * (MAX_MS + 3_000))) as { src: string; ms?: (number | null)[]; error?: string }[];
    const cpuAfter = await Promise.all(farPids.map(daemonTicks));
    // What the 19 receiving daemons (with their nft sessions and children) spent while the scanners went by, per scanner.
    const receiverMsPerScanner = Math.round((cpuAfter.reduce((a, b, i) => a + b - (cpuBefore[i] as number), 0) / TICKS / SCANNERS) * 1000);
    const sorted = (ms: readonly (number | null)[] | undefined): number[] => (ms ?? []).flatMap((m) => (m === null ? [] : [m])).sort((x, y) => x - y);
    const times = sorted(results.flatMap((r) => r.ms ?? []));
    const first = sorted(results[0]?.ms);
    const rest = sorted(results.slice(1).flatMap((r) => r.ms ?? []));
    const errors = results.flatMap((r) => (r.error ? [`${r.src}: ${r.error}`] : (r.ms ?? []).some((m) => m === null) ? [`${r.src}: not dropped everywhere within ${MAX_MS} ms`] : []));

    return {
      hosts: HOSTS,
      idleCpuPercent: { max: r1(Math.max(...idle)) ?? 0, mean: r1(idle.reduce((a, b) => a + b, 0) / idle.length) ?? 0 },
      propagation: {
        pairs: SCANNERS * (HOSTS - 1),
        dropped: times.length,
        p50Ms: r1(quantile(times, 0.5)),
        p99Ms: r1(quantile(times, 0.99)),
        maxMs: r1(times.at(-1) ?? null),
        errors,
        // The first scanner comes after the quiet minutes of the idle measurement, when host 0 reads its kernel's reports once a second.
        afterQuiet: { p50Ms: r1(quantile(first, 0.5)), maxMs: r1(first.at(-1) ?? null) },
        busy: { p50Ms: r1(quantile(rest, 0.5)), p99Ms: r1(quantile(rest, 0.99)) },
        receiverMsPerScanner,
      },
      redis: await redisPer100k(ns.redis, redis, instances[0] as Instance, dir),
    };
  } finally {
    for (const d of daemons) await d.stop(30_000).catch(() => undefined);
    await Promise.all(children.map((c) => c.stop("SIGTERM", 3000)));
    for (const n of [ns.bridge, ns.redis, ns.scanner, ...ns.hosts]) await killNamespace(n);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Redis's CPU and memory for N bans imported on one host and published, scaled to 100,000. */
async function redisPer100k(redisNs: string, redis: LineProcess, host: Instance, dir: string): Promise<Fleet20["redis"]> {
  const n = Number(process.env.FLEET20_BANS ?? 20_000);
  // 240.0.0.0/4: reserved, never routed; set elements only.
  const file = join(dir, "bans.txt");
  await writeFile(file, Array.from({ length: n }, (_, i) => `240.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).join("\n") + "\n");
  const info = async (field: string): Promise<number> => Number(new RegExp(`^${field}:(\\d+)`, "m").exec((await exec(redisNs, ["redis-cli", "-h", REDIS, "INFO", "all"])).stdout)?.[1] ?? NaN);
  const pid = redis.child.pid as number;
  const [cpu0, mem0] = [await cpuTicks(pid), await info("used_memory")];
  const t0 = Date.now();
  const r = await host.cli("import", [file, "--time", "1d"]);
  if (r.code !== 0) return { error: `import: exit ${String(r.code)}: ${r.stderr}` };
  const zcard = async (): Promise<number> => Number((await exec(redisNs, ["redis-cli", "-h", REDIS, "ZCARD", `iblock:{${FLEET_NAME}}:snapshot-expiry`])).stdout.trim());
  try {
    await waitUntil(async () => (await zcard()) >= n, { timeoutMs: 30 * 60_000, intervalMs: 1000, what: `${n} bans in the fleet's snapshot` });
  } catch (e) {
    return { error: (e as Error).message };
  }
  const publishedInS = (Date.now() - t0) / 1000;
  // The peers' reads of the stream cost Redis too: wait until they are quiet (CPU flat over 2 s).
  let last = await cpuTicks(pid);
  for (;;) {
    await new Promise((res) => setTimeout(res, 2000));
    const now = await cpuTicks(pid);
    if (now - last <= 2) break;
    last = now;
  }
  const [cpu1, mem1] = [await cpuTicks(pid), await info("used_memory")];
  const scale = 100_000 / n;
  return { bans: n, cpuSecondsPer100k: Math.round(((cpu1 - cpu0) / TICKS) * scale * 100) / 100, memoryMbPer100k: Math.round(((mem1 - mem0) / 1048576) * scale * 10) / 10, publishedInS: Math.round(publishedInS * 10) / 10 };
}

export function fleet20Table(r: Fleet20): string {
  const p = r.propagation;
  return [
    `${r.hosts} hosts; idle CPU over ${IDLE_S} s from ${STARTED_QUIET_MS / 1000} s after the last start, nothing banned (daemon, its nft session and children): max ${r.idleCpuPercent.max} %, mean ${r.idleCpuPercent.mean} % of one core (target < 1 %)`,
    `propagation host 0's ban -> dropped on each other host: ${p.dropped} of ${p.pairs} pairs, p50 ${p.p50Ms ?? "-"} ms, p99 ${p.p99Ms ?? "-"} ms, max ${p.maxMs ?? "-"} ms (target p99 <= 200 ms); the first scanner, after the quiet minutes: p50 ${p.afterQuiet.p50Ms ?? "-"} ms, max ${p.afterQuiet.maxMs ?? "-"} ms; the 19 after it: p50 ${p.busy.p50Ms ?? "-"} ms, p99 ${p.busy.p99Ms ?? "-"} ms; the 19 receiving daemons' CPU per scanner (with their nft sessions and children): ${p.receiverMsPerScanner} ms${p.errors.length ? `; ${p.errors.slice(0, 3).join("; ")}` : ""}`,
    "error" in r.redis
      ? `redis: ${r.redis.error}`
      : `redis per 100,000 bans in force (from ${r.redis.bans} imported on host 0, in the snapshot after ${r.redis.publishedInS} s): CPU ${r.redis.cpuSecondsPer100k} s, memory ${r.redis.memoryMbPer100k} MB`,
  ].join("\n");
}
