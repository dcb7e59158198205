// `npm run bench`: how fast iblock drops scanners, in network namespaces, for the
// default config (kernel route) and with kernel_route = false (listener route).
//
// (a) latency: 50 sources (198.18.0.0/24), one after another. A script inside the
//     scanner namespace connects to a trap port, then connects to the service again
//     and again; the latency is when the first connect that got no answer within
//     UNANSWERED_MS started, counted from the trap handshake's completion. For the
//     listener route, the minimal blocker (bench/minimal-blocker.ts) is measured the
//     same way right after iblock, in the same topology, from 198.18.1.0/24.
// (b) storm: 5000 distinct sources (198.19.0.0/16) each connect to one trap port
//     within about a second. The host's ban sets are polled with nft: the time
//     from the last trap connect until all 5000 are in them; then every source
//     probes the service once to count how many are really dropped.
// Not a test: it prints figures, JSON first, then a table.

import { pathToFileURL } from "node:url";
import { missing } from "../test/support/env.js";
import { requireBuild, type IblockConfig } from "../test/support/daemon.js";
import { latency, latencyAgainstMinimal, storm } from "./measure.js";

function table(results: { name: string; latency: Record<string, unknown>; storm: Record<string, unknown> }[]): string {
  const minimal = (r: { latency: Record<string, unknown> }): Record<string, unknown> => r.latency.minimalBlocker as Record<string, unknown>;
  const fmt = (v: unknown): string => (v === null || v === undefined ? "-" : typeof v === "number" ? String(v) : JSON.stringify(v));
  const rows: [string, ...string[]][] = [
    ["", ...results.map((r) => r.name)],
    ["latency p50 (ms)", ...results.map((r) => fmt(r.latency.p50Ms))],
    ["latency p99 (ms)", ...results.map((r) => fmt(r.latency.p99Ms))],
    ["latency max (ms)", ...results.map((r) => fmt(r.latency.maxMs))],
    ["latency banned / 50", ...results.map((r) => fmt(r.latency.banned))],
    ["minimal blocker p50 / p99 (ms)", ...results.map((r) => (r.latency.minimalBlocker ? `${fmt(minimal(r).p50Ms)} / ${fmt(minimal(r).p99Ms)}` : "-"))],
    ["ratio to it p50 / p99", ...results.map((r) => (r.latency.minimalBlocker ? `${fmt(r.latency.ratioP50)}x / ${fmt(r.latency.ratioP99)}x (target 1.25x / 1.5x)` : "-"))],
    ["storm trap handshakes", ...results.map((r) => fmt(r.storm.trapHandshakes))],
    ["storm spread (ms)", ...results.map((r) => fmt(r.storm.stormSpreadMs))],
    ["storm banned (% probed)", ...results.map((r) => fmt(r.storm.shareBannedPct))],
    [
      "storm all in set after (ms)",
      ...results.map((r) => `<= ${fmt(r.storm.allInBanSetAfterLastConnectMs)} (polled every ${fmt(r.storm.pollIntervalMedianMs)})`),
    ],
    ["storm recorded in store", ...results.map((r) => fmt(r.storm.recordedInStore))],
  ];
  const widths = (rows[0] ?? [""]).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ")).join("\n");
}

async function main(): Promise<number> {
  const why = missing(["ip", "nft"]);
  if (why) {
    console.error(`bench: cannot run: ${why}`);
    return 2;
  }
  requireBuild();
  if (process.argv.includes("http")) {
    const { httpBench } = await import("./http.js");
    const r = await httpBench();
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, http: r }, null, 2));
    return 0;
  }
  if (process.argv.includes("listener")) {
    // `npm run bench -- listener [RUNS]`: only the listener route's latency against the minimal blocker.
    const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1);
    for (let i = 0; i < runs; i++) {
      const r = await latencyAgainstMinimal({ kernel_route: false });
      const m = r.minimalBlocker as Record<string, unknown>;
      console.log(JSON.stringify({ iblock: { p50Ms: r.p50Ms, p99Ms: r.p99Ms, banned: r.banned }, minimal: { p50Ms: m.p50Ms, p99Ms: m.p99Ms, banned: m.banned }, ratioP50: r.ratioP50, ratioP99: r.ratioP99 }));
    }
    return 0;
  }
  if (process.argv.includes("storm")) {
    const { storm } = await import("./storm.js");
    // `npm run bench -- storm [SOURCES] [--preload BANS]`
    const at = process.argv.indexOf("--preload");
    const preload = at > 0 ? Number(process.argv[at + 1]) : 0;
    const n = Number(process.argv.find((a, i) => /^\d+$/.test(a) && process.argv[i - 1] !== "--preload") ?? 50_000);
    const r = await storm(n, preload);
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, storm: r }, null, 2));
    return 0;
  }
  if (process.argv.includes("scale")) {
    const { scale, scaleTable } = await import("./scale.js");
    const r = await scale();
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, scale: r }, null, 2));
    console.log();
    console.log(scaleTable(r));
    return 0;
  }
  if (process.argv.includes("import")) {
    const { importBench } = await import("./import.js");
    // `npm run bench -- import [LINES]`
    const r = await importBench(Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1_000_000));
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, import: r }, null, 2));
    console.log(`import of ${r.lines} lines: ${r.importMs} ms; bare nft -f of as many: ${r.bareNftMs} ms (${r.ratio}x; target at most 3x)`);
    return 0;
  }
  if (process.argv.includes("fail2ban")) {
    const { fail2banBench } = await import("./fail2ban.js");
    // `npm run bench -- fail2ban [N]`
    const r = await fail2banBench(Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 10_000));
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, fail2ban: r }, null, 2));
    console.log(`fail2ban burst of ${r.bans} bans: over the socket ${r.socketMs} ms (${r.inSetAfterSocket} in the set, longest event-loop stall ${r.eventLoopMaxMs} ms); through fail2ban-server ${r.fail2banMs ?? "-"} ms, of which fail2ban's own first to last "Ban" ${r.fail2banOwnMs ?? "-"} ms (target: under 10 s)`);
    return 0;
  }
  if (process.argv.includes("fleet20")) {
    const { fleet20Bench, fleet20Table } = await import("./fleet20.js");
    const r = await fleet20Bench();
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, fleet20: r }, null, 2));
    console.log(fleet20Table(r));
    return 0;
  }
  if (process.argv.includes("fleet")) {
    const { fleetBench, fleetTable, snapshotBench } = await import("./fleet.js");
    const r = await fleetBench();
    // IBLOCK_BENCH_SNAPSHOT=0 leaves the million-ban catch-up out (it takes minutes).
    const n = Number(process.env.IBLOCK_BENCH_SNAPSHOT ?? 1_000_000);
    const snapshot = n > 0 ? await snapshotBench(n) : undefined;
    console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, fleet: r, snapshot }, null, 2));
    console.log();
    console.log(fleetTable(r));
    if (snapshot) {
      console.log(`snapshot catch-up of ${snapshot.bans} bans: ${snapshot.catchUpS} s; local restore of as many: ${snapshot.localRestoreS} s (${snapshot.ratio}x; target at most 2.5x)`);
      console.log(`CPU (user + system, s): catch-up daemon ${snapshot.catchUpCpuS.daemon} + Redis ${snapshot.catchUpCpuS.redis}; local restore daemon ${snapshot.localRestoreCpuS.daemon} (daemons: all threads and the nft processes they ran, from start)`);
    }
    return 0;
  }
  // `against`: the minimal blocker runs after iblock in the same topology (the listener route: PF's only one).
  const configs: { name: string; config: IblockConfig; against?: boolean }[] = [
    { name: "kernel route (default)", config: {} },
    { name: "kernel route, listen direct", config: { listen: "direct" } },
    { name: "listener (kernel_route=false)", config: { kernel_route: false }, against: true },
  ];
  const results = [];
  for (const { name, config, against } of configs) {
    console.error(`bench: ${name}: latency ...`);
    const lat = against ? await latencyAgainstMinimal(config) : await latency(config);
    console.error(`bench: ${name}: storm ...`);
    const st = await storm(config);
    results.push({ name, config, latency: lat, storm: st });
  }
  console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, results }, null, 2));
  console.log();
  console.log(table(results));
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) void main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
