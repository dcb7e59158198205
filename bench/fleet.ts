// `npm run bench -- fleet`: how fast a ban on one host of a fleet drops the
// scanner on another. Three hosts and a redis-server on a bridge (the test
// support's Fleet); 50 scanners, one after another, each touches a trap port
// on A, then connects to C's service again and again: the propagation time is
// when the first connect C did not answer (within UNANSWERED_MS) started,
// counted from the trap handshake on A. Target: p99 at most 200 ms.
import { readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Fleet, FLEET_ADDR, SERVICE_PORT, TRAP_PORT } from "../test/support/fleet.js";
import { stormSource } from "../test/support/storm.js";

const SCANNERS = 50;
const UNANSWERED_MS = 20;
const MAX_MS = 5_000;
const GAP_MS = 100;

// Runs in the scanner namespace: one JSON array of per-source results.
const SCRIPT = String.raw`
const net = require("node:net");
const cfg = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
const now = () => performance.now();
function connect(src, dst, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = now();
    const s = net.connect({ host: dst, port, localAddress: src });
    let done = false;
    const fin = (outcome) => { if (done) return; done = true; clearTimeout(timer); s.destroy(); resolve({ outcome, t0, t1: now() }); };
    const timer = setTimeout(() => fin("timeout"), timeoutMs);
    s.once("connect", () => fin("connected"));
    s.on("error", (e) => fin(e.code || "error"));
  });
}
(async () => {
  const results = [];
  for (const src of cfg.sources) {
    const before = await connect(src, cfg.far, cfg.servicePort, 1000);
    if (before.outcome !== "connected") { results.push({ src, error: "not served before: " + before.outcome }); continue; }
    const trap = await connect(src, cfg.near, cfg.trapPort, 1000);
    if (trap.outcome !== "connected" && trap.outcome !== "ECONNRESET") { results.push({ src, error: "trap " + trap.outcome }); continue; }
    let ms = null;
    while (now() - trap.t1 < cfg.maxMs) {
      const p = await connect(src, cfg.far, cfg.servicePort, cfg.unansweredMs);
      if (p.outcome === "timeout") { ms = p.t0 - trap.t1; break; }
    }
    results.push({ src, ms });
    await new Promise((r) => setTimeout(r, cfg.gapMs));
  }
  console.log(JSON.stringify(results));
})();
`;

export interface FleetBench {
  scanners: number;
  dropped: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  errors: string[];
}

const quantile = (sorted: readonly number[], q: number): number | null =>
  sorted.length ? (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? null) : null;
const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);

export async function fleetBench(): Promise<FleetBench> {
  const fleet = await Fleet.create();
  try {
    const hosts = [await fleet.host(undefined, "a"), await fleet.host(undefined, "b"), await fleet.host(undefined, "c")];
    const daemons = [];
    for (const h of hosts) daemons.push(await h.start());
    for (const d of daemons) await d.waitForLine(/caught up from the snapshot/, 10_000);
    const file = join(fleet.dir, "bench.json");
    const sources = Array.from({ length: SCANNERS }, (_, i) => stormSource(i));
    await writeFile(file, JSON.stringify({ sources, near: FLEET_ADDR.a, far: FLEET_ADDR.c, trapPort: TRAP_PORT, servicePort: SERVICE_PORT, unansweredMs: UNANSWERED_MS, maxMs: MAX_MS, gapMs: GAP_MS }));
    const p = fleet.spawn(fleet.ns.scanner, [process.execPath, "-e", SCRIPT, file]);
    const results = JSON.parse(await p.waitForLine(/^\[/, SCANNERS * (MAX_MS + 3_000))) as { src: string; ms?: number | null; error?: string }[];
    const times = results.flatMap((r) => (typeof r.ms === "number" ? [r.ms] : [])).sort((x, y) => x - y);
    return {
      scanners: SCANNERS,
      dropped: times.length,
      p50Ms: round(quantile(times, 0.5)),
      p99Ms: round(quantile(times, 0.99)),
      maxMs: round(times.at(-1) ?? null),
      errors: results.flatMap((r) => (r.error ? [`${r.src}: ${r.error}`] : r.ms === null ? [`${r.src}: not dropped on C within ${MAX_MS} ms`] : [])),
    };
  } finally {
    await fleet.destroy();
  }
}

export function fleetTable(r: FleetBench): string {
  return [
    `propagation A's ban -> dropped on C, ${r.scanners} scanners: p50 ${r.p50Ms ?? "-"} ms, p99 ${r.p99Ms ?? "-"} ms, max ${r.maxMs ?? "-"} ms (target p99 <= 200 ms)`,
    `dropped on C: ${r.dropped} of ${r.scanners}${r.errors.length ? `; ${r.errors.slice(0, 5).join("; ")}` : ""}`,
  ].join("\n");
}

export interface SnapshotBench {
  bans: number;
  catchUpS: number;
  localRestoreS: number;
  ratio: number;
  /** CPU seconds (user + system) from the daemon's start to the line: cpuSeconds() below. */
  catchUpCpuS: { daemon: number; redis: number };
  localRestoreCpuS: { daemon: number };
}

/** /proc/PID/stat's fields from the state on (field 3 is [0]); the command name (field 2) may hold spaces. */
function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/**
 * CPU seconds (user + system) a process used: its own threads, the children
 * it reaped (cutime, cstime) and those still running (the nft session).
 */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  // Fields 14-17 of proc(5) (utime, stime, cutime, cstime) are [11]-[14]; the parent (field 4) is [1].
  const ticks = (f: string[], last: number): number => f.slice(11, last + 1).reduce((sum, v) => sum + Number(v), 0);
  let total = ticks(statFields(pid), 14);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = statFields(entry);
      if (Number(f[1]) === pid) total += ticks(f, 12);
    } catch {
      // Gone meanwhile.
    }
  }
  return Math.round((total / 100) * 10) / 10;
}

const seconds = (line: string, re: RegExp): number => Number(re.exec(line)?.[1] ?? NaN);

/** A host joining a fleet whose snapshot holds `n` bans, against restoring as many from its own store. */
export async function snapshotBench(n: number): Promise<SnapshotBench> {
  const fleet = await Fleet.create();
  try {
    await fleet.fillSnapshot(n);
    const c = await fleet.host(undefined, "c");
    const redisBefore = cpuSeconds(fleet.redis?.pid);
    let d = await c.start({ readyTimeoutMs: 60_000 });
    const caught = await d.waitForLine(/caught up from the snapshot: .* in ([\d.]+) s/, 60 * 60_000);
    const catchUpCpuS = { daemon: cpuSeconds(d.proc.pid), redis: Math.round((cpuSeconds(fleet.redis?.pid) - redisBefore) * 10) / 10 };
    await d.stop(120_000);
    d = await c.start({ readyTimeoutMs: 30 * 60_000 });
    const restored = d.lines.find((l) => /restored \d+ ban\(s\)/.test(l)) ?? "";
    const localRestoreCpuS = { daemon: cpuSeconds(d.proc.pid) };
    await d.stop(120_000);
    const catchUpS = seconds(caught, /in ([\d.]+) s$/);
    const localRestoreS = seconds(restored, /in ([\d.]+) s/);
    return { bans: n, catchUpS, localRestoreS, ratio: Math.round((catchUpS / localRestoreS) * 100) / 100, catchUpCpuS, localRestoreCpuS };
  } finally {
    await fleet.destroy();
  }
}
