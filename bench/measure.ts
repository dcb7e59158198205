// The measurements `npm run bench` makes (bench/run.ts prints them): latency
// against the minimal blocker, the storm, and the scripts a scanner namespace runs.
import { rm } from "node:fs/promises";
import { Instance, tempDir, type Daemon, type IblockConfig } from "../test/support/daemon.js";
import { NFT_TABLE } from "../src/firewall/nft-ruleset.js";
import { startMinimalBlocker } from "./minimal-blocker.js";
import { ADDR, SERVICE_PORT, Topology } from "../test/support/netns.js";
import { banSetNames, bannedElements, countV4Within } from "../test/support/nft.js";
import { sleep } from "../test/support/proc.js";

const LATENCY_SOURCES = 50;
const UNANSWERED_MS = 20;
const STORM_SOURCES = 5000;
const STORM_SPREAD_MS = 1000;
const STORM_RANGE = "198.19.0.0/16";
const TRAP_PORTS = [21, 23, 445, 1433, 3306, 3389, 5432, 9999];

export const epochMs = (): number => performance.timeOrigin + performance.now();

/** The i-th (0-based) host address of 198.19.0.0/16, skipping .0 and .255. */
function stormSource(i: number): string {
  return `198.19.${Math.floor(i / 254)}.${(i % 254) + 1}`;
}

// Runs in the scanner namespace: prints one JSON array of per-source results.
const LATENCY_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const cfg = JSON.parse(process.argv[1]);
// Tens of thousands of sources do not fit in one argument: they come in a file.
if (cfg.sourcesFile) cfg.sources = require("node:fs").readFileSync(cfg.sourcesFile, "utf8").split("\n").filter(Boolean);
const now = () => performance.now();
function connect(src, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = now();
    const s = net.connect({ host: cfg.dst, port, localAddress: src });
    let done = false;
    const fin = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ outcome, t0, t1: now() });
    };
    const timer = setTimeout(() => fin("timeout"), timeoutMs);
    s.once("connect", () => fin("connected"));
    s.on("error", (e) => fin(e.code || "error"));
  });
}
(async () => {
  const results = [];
  for (const src of cfg.sources) {
    const trap = await connect(src, cfg.trapPort, 1000);
    // ECONNRESET before "connect": the handshake completed and the daemon reset it at
    // once; its time is when the client learnt of it, a little after the handshake.
    if (trap.outcome !== "connected" && trap.outcome !== "ECONNRESET") { results.push({ src, error: "trap " + trap.outcome }); continue; }
    const tTrap = trap.t1;
    let latencyMs = null;
    let answered = 0;
    while (now() - tTrap < cfg.maxMs) {
      const p = await connect(src, cfg.servicePort, cfg.unansweredMs);
      if (p.outcome === "timeout") { latencyMs = p.t0 - tTrap; break; }
      answered++;
    }
    results.push({ src, latencyMs, answered, trapReset: trap.outcome === "ECONNRESET" });
    await new Promise((r) => setTimeout(r, cfg.gapMs));
  }
  console.log(JSON.stringify(results));
})();
`;

// Runs in the scanner namespace: one trap connect per source, spread over spreadMs.
// Each client waits for the daemon to close (a scanner waiting for a banner), at most 2 s.
// ECONNRESET before "connect" is a completed handshake the daemon reset at once.
export const STORM_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const cfg = JSON.parse(process.argv[1]);
// Tens of thousands of sources do not fit in one argument: they come in a file.
if (cfg.sourcesFile) cfg.sources = require("node:fs").readFileSync(cfg.sourcesFile, "utf8").split("\n").filter(Boolean);
const epoch = () => performance.timeOrigin + performance.now();
const r = { firstAttempt: 0, lastAttempt: 0, lastConnect: 0, connected: 0, resetAtOnce: 0, failed: 0, failures: {} };
let launched = 0, settled = 0;
const start = epoch();
r.firstAttempt = start;
function one(i) {
  const s = net.connect({ host: cfg.dst, port: cfg.ports[i % cfg.ports.length], localAddress: cfg.sources[i] });
  r.lastAttempt = epoch();
  let done = false;
  const fin = (ok, why) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (ok || why === "ECONNRESET") {
      if (ok) r.connected++; else r.resetAtOnce++;
      r.lastConnect = Math.max(r.lastConnect, epoch());
    } else {
      r.failed++;
      r.failures[why] = (r.failures[why] || 0) + 1;
    }
    if (!ok) s.destroy();
    if (++settled === cfg.sources.length) finish();
  };
  const timer = setTimeout(() => fin(false, "timeout"), 3000);
  s.once("connect", () => {
    fin(true);
    const hold = setTimeout(() => s.destroy(), 2000);
    s.once("close", () => clearTimeout(hold));
    s.once("end", () => s.destroy());
  });
  s.on("error", (e) => fin(false, e.code || "error"));
}
function tick() {
  const due = Math.min(cfg.sources.length, Math.ceil(((epoch() - start) / cfg.spreadMs) * cfg.sources.length));
  while (launched < due) one(launched++);
  if (launched < cfg.sources.length) setTimeout(tick, 5);
}
let finished = false;
function finish() { if (finished) return; finished = true; console.log(JSON.stringify(r)); }
tick();
`;

// Runs in the scanner namespace: every source connects to the service once.
export const CHECK_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const cfg = JSON.parse(process.argv[1]);
// Tens of thousands of sources do not fit in one argument: they come in a file.
if (cfg.sourcesFile) cfg.sources = require("node:fs").readFileSync(cfg.sourcesFile, "utf8").split("\n").filter(Boolean);
const out = { connected: 0, timeout: 0, other: 0, answeredSample: [] };
function probe(src) {
  return new Promise((resolve) => {
    const s = net.connect({ host: cfg.dst, port: cfg.port, localAddress: src });
    let done = false;
    const fin = (k) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      out[k]++;
      if (k !== "timeout" && out.answeredSample.length < 5) out.answeredSample.push(src);
      resolve();
    };
    const timer = setTimeout(() => fin("timeout"), cfg.timeoutMs);
    s.once("connect", () => fin("connected"));
    s.on("error", () => fin("other"));
  });
}
(async () => {
  for (let i = 0; i < cfg.sources.length; i += cfg.concurrency) {
    await Promise.all(cfg.sources.slice(i, i + cfg.concurrency).map(probe));
  }
  console.log(JSON.stringify(out));
})();
`;

interface LatencyRow {
  src: string;
  latencyMs?: number | null;
  answered?: number;
  trapReset?: boolean;
  error?: string;
}

export interface StormRun {
  firstAttempt: number;
  lastAttempt: number;
  lastConnect: number;
  connected: number;
  resetAtOnce: number;
  failed: number;
  failures: Record<string, number>;
}

export interface CheckResult {
  connected: number;
  timeout: number;
  other: number;
  answeredSample: string[];
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

export const round = (v: number | null | undefined, digits = 3): number | null =>
  v === null || v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** Run `script` in the scanner namespace and parse the last JSON line it prints. */
export async function runScript<T>(topo: Topology, script: string, args: unknown, timeoutMs: number): Promise<T> {
  const p = topo.spawnNode(topo.scanner, script, [JSON.stringify(args)]);
  const line = await p.waitForLine(/^[[{]/, timeoutMs);
  return JSON.parse(line) as T;
}

/** A fresh network and daemon for one measurement; everything is removed afterwards. `fn` may stop the daemon early. */
async function withDaemon<T>(config: IblockConfig, fn: (topo: Topology, inst: Instance, daemon: Daemon) => Promise<T>): Promise<T> {
  const topo = await Topology.create({ manySources: true });
  const dir = await tempDir(undefined, "iblock-bench-");
  const inst = new Instance(topo.host, dir);
  try {
    await inst.writeConfig(config);
    const d = await inst.start();
    try {
      return await fn(topo, inst, d);
    } finally {
      await d.stop();
    }
  } finally {
    await inst.cleanup();
    await topo.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

/** 50 sources one after another, each from `firstSource` on: trap, then probes of the service until one goes unanswered. */
async function measureLatency(topo: Topology, firstSource: number): Promise<Record<string, unknown>> {
  const sources = Array.from({ length: LATENCY_SOURCES }, (_, i) => `198.18.${Math.floor((firstSource + i) / 254)}.${((firstSource + i) % 254) + 1}`);
  const rows = await runScript<LatencyRow[]>(
    topo,
    LATENCY_SCRIPT,
    { dst: ADDR.hostV4, trapPort: 23, servicePort: SERVICE_PORT, sources, unansweredMs: UNANSWERED_MS, maxMs: 3000, gapMs: 20 },
    LATENCY_SOURCES * 4000,
  );
  const ms = rows
    .map((r) => r.latencyMs)
    .filter((v): v is number => typeof v === "number")
    .sort((a, b) => a - b);
  return {
    sources: LATENCY_SOURCES,
    banned: ms.length,
    notBannedWithin3s: rows.filter((r) => r.latencyMs === null).length,
    trapErrors: rows.filter((r) => r.error !== undefined).length,
    trapResetBeforeConnect: rows.filter((r) => r.trapReset === true).length,
    p50Ms: round(percentile(ms, 50)),
    p99Ms: round(percentile(ms, 99)),
    minMs: round(ms[0]),
    maxMs: round(ms[ms.length - 1]),
    answeredConnectsMedian: percentile(
      rows.map((r) => r.answered ?? 0).sort((a, b) => a - b),
      50,
    ),
  };
}

export async function latency(config: IblockConfig): Promise<Record<string, unknown>> {
  return withDaemon(config, (topo) => measureLatency(topo, 0));
}

/**
 * iblock's latency, then the minimal blocker's in the same topology, on
 * iblock's table (which outlives the daemon) with its ban sets emptied, from
 * other sources (no connection state of the first ones can matter).
 */
export async function latencyAgainstMinimal(config: IblockConfig): Promise<Record<string, unknown>> {
  return withDaemon(config, async (topo, _inst, daemon) => {
    const iblock = await measureLatency(topo, 0);
    await daemon.stop();
    for (const { name } of await banSetNames(topo.host)) await topo.execHost(["nft", "flush", "set", "inet", NFT_TABLE, name]);
    const blocker = await startMinimalBlocker(topo, config);
    try {
      const minimal = await measureLatency(topo, 254);
      const ratio = (key: string): number | null => {
        const a = iblock[key];
        const b = minimal[key];
        return typeof a === "number" && typeof b === "number" && b > 0 ? round(a / b, 2) : null;
      };
      return { ...iblock, minimalBlocker: minimal, ratioP50: ratio("p50Ms"), ratioP99: ratio("p99Ms") };
    } finally {
      await blocker.stop();
    }
  });
}

export async function storm(config: IblockConfig): Promise<Record<string, unknown>> {
  return withDaemon(config, async (topo, inst) => {
    const sets = (await banSetNames(topo.host)).filter((s) => s.type === "ipv4_addr").map((s) => s.name);
    const sources = Array.from({ length: STORM_SOURCES }, (_, i) => stormSource(i));

    // Poll the ban sets while the storm runs, until all sources are in them.
    const samples: { start: number; end: number; count: number }[] = [];
    const poll = (async (): Promise<void> => {
      const deadline = epochMs() + STORM_SPREAD_MS + 15_000;
      while (epochMs() < deadline) {
        const start = epochMs();
        const count = countV4Within(await bannedElements(topo.host, sets), STORM_RANGE);
        samples.push({ start, end: epochMs(), count });
        if (count >= STORM_SOURCES) return;
        await sleep(5);
      }
    })();
    const run = await runScript<StormRun>(
      topo,
      STORM_SCRIPT,
      { dst: ADDR.hostV4, ports: TRAP_PORTS, sources, spreadMs: STORM_SPREAD_MS },
      30_000,
    );
    await poll;

    const all = samples.find((s) => s.count >= STORM_SOURCES);
    const before = all ? samples[samples.indexOf(all) - 1] : undefined;
    const last = samples[samples.length - 1];
    const check = await runScript<CheckResult>(
      topo,
      CHECK_SCRIPT,
      { dst: ADDR.hostV4, port: SERVICE_PORT, sources, timeoutMs: 1000, concurrency: 1000 },
      60_000,
    );
    const listed = (await inst.list()).filter((e) => e.prefix.startsWith("198.19.")).length;
    return {
      sources: STORM_SOURCES,
      trapHandshakes: run.connected + run.resetAtOnce,
      trapFailed: run.failed,
      trapFailures: run.failures,
      stormSpreadMs: round(run.lastAttempt - run.firstAttempt, 1),
      inBanSetAtEnd: last?.count ?? 0,
      // Upper bound: the poll that first saw all of them had finished by then.
      allInBanSetAfterLastConnectMs: all ? round(all.end - run.lastConnect, 1) : null,
      // Lower bound: the poll before it had not seen them all.
      notYetAllAfterLastConnectMs: before ? round(before.start - run.lastConnect, 1) : null,
      pollCount: samples.length,
      pollIntervalMedianMs: round(
        percentile(
          samples
            .slice(1)
            .map((x, i) => x.start - (samples[i]?.start ?? x.start))
            .sort((a, b) => a - b),
          50,
        ),
        1,
      ),
      dropped: check.timeout,
      stillAnswered: check.connected + check.other,
      stillAnsweredSample: check.answeredSample,
      shareBannedPct: round((100 * check.timeout) / STORM_SOURCES, 2),
      recordedInStore: listed,
    };
  });
}
