// `npm run faults`: what iblock loses when things around it fail. Each fault
// runs against the real daemon in network namespaces made here, with scanner
// sources from 198.18.0.0/15, and prints one line: how many sources should be
// banned and how many of them were lost (not recorded in the store, or not
// dropped at the host once the fault is over).
//
// Not a test: it prints figures, JSON first, then a table.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fill } from "../test/support/disk.js";
import { BrokenNft } from "../test/support/broken-nft.js";
import { Instance, requireBuild, tempDir, type Daemon, type IblockConfig } from "../test/support/daemon.js";
import { missing } from "../test/support/env.js";
import { exec, Topology } from "../test/support/netns.js";
import { bannedElements } from "../test/support/nft.js";
import { run, sleep } from "../test/support/proc.js";
import { probeAll, stormSource, trapStorm } from "../test/support/storm.js";

interface FaultRow {
  fault: string;
  /** Sources that had to end up banned. */
  sources: number;
  /** Of those, not in the store or not dropped at the end. */
  lost: number;
  seconds: number;
  detail: string;
}

const CANARY = "255.255.255.255";
// Holds trap port 23 while the daemon is down, as inetd or systemd's socket would.
const TRAP_STAND_IN = `require("net").createServer((c) => c.destroy()).listen(23, "0.0.0.0", () => console.log("listening"))`;
const range = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => stormSource(from + i));
const addressOf = (line: string): string | undefined => /blocking (\S+)/.exec(line)?.[1]?.replace(/\/32$/, "");

/** A host and scanner namespace pair and an iblock instance on it, removed afterwards. */
async function withHost<T>(config: IblockConfig, body: (topo: Topology, inst: Instance) => Promise<T>, dir?: string): Promise<T> {
  const topo = await Topology.create({ manySources: true });
  const inst = new Instance(topo.host, dir ?? (await tempDir(undefined, "iblock-faults-")));
  try {
    await inst.writeConfig({ trap_ports: [23], ...config });
    return await body(topo, inst);
  } finally {
    await inst.cleanup().catch(() => undefined);
    await topo.destroy();
  }
}

/**
 * Which of `expected` are lost: not recorded in the store, or answered by the
 * host's service. Waits (bounded) for both to settle first: a ban retried after
 * a fault may reach the firewall a backoff later than the store.
 */
async function lostOf(topo: Topology, inst: Instance, expected: readonly string[], settleMs = 60_000): Promise<string[]> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const stored = new Set((await inst.list()).map((e) => e.prefix.replace(/\/32$/, "")));
    const lost = new Set(expected.filter((s) => !stored.has(s)));
    for (const s of (await probeAll(topo, [...expected])).answeredSources) lost.add(s);
    if (lost.size === 0 || Date.now() > deadline) return [...lost];
    await sleep(1000);
  }
}

function row(fault: string, expected: readonly string[], lost: readonly string[], started: number, detail: string): FaultRow {
  const named = lost.length ? ` (lost: ${lost.slice(0, 5).join(", ")}${lost.length > 5 ? ", ..." : ""})` : "";
  return { fault, sources: expected.length, lost: lost.length, seconds: Math.round((Date.now() - started) / 100) / 10, detail: detail + named };
}

const blockingLines = (d: Daemon): string[] => d.lines.filter((l) => / blocking /.test(l));

/** kill -9 in the middle of a 5,000-source storm; the kernel route bans on while the daemon is down. */
async function killDuringStorm(): Promise<FaultRow> {
  const started = Date.now();
  return withHost({}, async (topo, inst) => {
    const d = await inst.start();
    const sources = range(0, 5000);
    const storm = trapStorm(topo, sources, 23, 50);
    const deadline = Date.now() + 60_000;
    while (blockingLines(d).length < 1500 && Date.now() < deadline) await sleep(20);
    await d.kill9();
    const logged = new Set(blockingLines(d).map(addressOf).filter((a): a is string => a !== undefined));
    const standIn = topo.spawn(topo.host, [process.execPath, "-e", TRAP_STAND_IN]);
    await standIn.waitForLine(/^listening$/, 5000);
    const result = await storm;
    await standIn.stop("SIGTERM");
    // What the kernel banned by itself, the daemon being down or not: all of it must be recorded.
    const kernel = [...(await bannedElements(topo.host, ["iblocked_v4"]))].filter((e) => e !== CANARY);
    const expected = [...new Set([...logged, ...kernel])];
    const d2 = await inst.start({ readyTimeoutMs: 60_000 });
    const lost = await lostOf(topo, inst, expected);
    await d2.stop();
    return row(
      "kill -9 during a 5,000-source storm",
      expected,
      lost,
      started,
      `${logged.size} logged before the kill, ${kernel.length} in the kernel's set after the storm (${result.handshakes} handshakes)`,
    );
  });
}

/** nft fails for 30 s (a broken binary on the path, its running session killed), then works again. */
async function nftFailing(): Promise<FaultRow> {
  const started = Date.now();
  const nft = await BrokenNft.create(undefined);
  try {
    return await withHost({ kernel_route: false }, async (topo, inst) => {
      inst.extraEnv = { PATH: nft.path };
      const d = await inst.start();
      const before = range(5000, 500);
      await trapStorm(topo, before, 23, 100);
      await nft.break(topo.host);
      const brokenAt = Date.now();
      const during = range(5500, 1000);
      const storm = await trapStorm(topo, during, 23, 100);
      await sleep(Math.max(0, 30_000 - (Date.now() - brokenAt)));
      await nft.heal();
      const lost = await lostOf(topo, inst, [...before, ...during], 90_000);
      const healedIn = Math.round((Date.now() - brokenAt - 30_000) / 100) / 10;
      const refused = d.lines.filter((l) => /firewall refused/.test(l)).length;
      await d.stop();
      return row("nft failing for 30 s (listener route)", [...before, ...during], lost, started, `${storm.handshakes} trap handshakes while broken, ${refused} "firewall refused" lines, all dropped ${healedIn} s after nft works again`);
    });
  } finally {
    await rm(nft.dir, { recursive: true, force: true });
  }
}

/** The table deleted every second for 10 s while scanners keep coming. */
async function tableDeleted(): Promise<FaultRow> {
  const started = Date.now();
  return withHost({ reconcile_interval: "2s" }, async (topo, inst) => {
    const d = await inst.start();
    const before = range(7000, 1000);
    await trapStorm(topo, before, 23, 100);
    const during: string[] = [];
    let deletions = 0;
    for (let s = 0; s < 10; s++) {
      const r = await exec(topo.host, ["nft", "delete", "table", "inet", "iblock"], { check: false });
      if (r.code === 0) deletions++;
      const wave = range(8000 + s * 100, 100);
      during.push(...wave);
      await Promise.all([trapStorm(topo, wave, 23, 50), sleep(1000)]);
    }
    const expected = [...before, ...during];
    const lost = await lostOf(topo, inst, expected, 60_000);
    const repairs = d.lines.filter((l) => /repaired the firewall/.test(l)).length;
    await d.stop();
    return row("table deleted every second for 10 s (reconcile_interval 2s)", expected, lost, started, `${deletions} deletions, ${repairs} repairs`);
  });
}

/** The state dir's file system full (a 4 MB tmpfs) during a storm, then room again. */
async function fullStateDir(): Promise<FaultRow> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "iblock-faults-full-"));
  await run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir]);
  try {
    return await withHost(
      { kernel_route: false },
      async (topo, inst) => {
        const d = await inst.start();
        const filler = join(dir, "filler");
        await fill(filler, 8 * 1024 * 1024);
        const sources = range(10_000, 1000);
        await trapStorm(topo, sources, 23, 100);
        // Dropped while the store is still full (the firewall is the protection),
        // probed once the daemon has said "blocking" for each, or after 10 s.
        const deadline = Date.now() + 10_000;
        while (blockingLines(d).length < sources.length && Date.now() < deadline) await sleep(50);
        const whileFull = await probeAll(topo, sources);
        await rm(filler);
        const lost = new Set(await lostOf(topo, inst, sources));
        for (const s of whileFull.answeredSources) lost.add(s);
        const outages = d.lines.filter((l) => /cannot write the store/.test(l)).length;
        await d.stop();
        return row("state dir full (4 MB tmpfs)", sources, [...lost], started, `${whileFull.dropped} dropped while full, outage logged ${outages} time(s)`);
      },
      dir,
    );
  } finally {
    await run(["umount", "-l", dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** A second `iblock run` on the same state dir while the first bans a storm. */
async function secondDaemon(): Promise<FaultRow> {
  const started = Date.now();
  return withHost({}, async (topo, inst) => {
    const d = await inst.start();
    const sources = range(12_000, 1000);
    const storm = trapStorm(topo, sources, 23, 100);
    const second = await inst.start({ waitReady: false });
    const exit = await second.proc.exited;
    await storm;
    const lost = await lostOf(topo, inst, sources);
    const stats = await inst.cli("stats");
    const named = second.lines.find((l) => /pid/.test(l)) ?? "";
    await d.stop();
    return row(
      "a second daemon on the same state dir",
      sources,
      lost,
      started,
      `second exited ${String(exit.code)} ("${named.replace(/^iblock: (error: )?/, "").slice(0, 40)}..."), first answers stats: ${stats.code === 0 ? "yes" : "no"}`,
    );
  });
}

/** SIGHUP every 100 ms during a storm. */
async function sighupStorm(): Promise<FaultRow> {
  const started = Date.now();
  return withHost({}, async (topo, inst) => {
    const d = await inst.start();
    const sources = range(14_000, 2000);
    let done = false;
    const storm = trapStorm(topo, sources, 23, 20).finally(() => (done = true));
    let signals = 0;
    const until = Date.now() + 60_000;
    while ((!done || signals < 50) && Date.now() < until && d.proc.pid !== undefined) {
      process.kill(d.proc.pid, "SIGHUP");
      signals++;
      await sleep(100);
    }
    await storm;
    const lost = await lostOf(topo, inst, sources);
    const reloads = d.lines.filter((l) => /SIGHUP: config reloaded/.test(l)).length;
    const alive = d.running;
    await d.stop();
    return row("SIGHUP every 100 ms during a storm", sources, lost, started, `${signals} signals, ${reloads} reloads, daemon ${alive ? "alive" : "DEAD"}`);
  });
}

const FAULTS = { kill: killDuringStorm, nft: nftFailing, table: tableDeleted, full: fullStateDir, second: secondDaemon, sighup: sighupStorm };

function table(rows: readonly FaultRow[]): string {
  const lines = ["| fault | sources | lost | s | detail |", "| --- | ---: | ---: | ---: | --- |"];
  for (const r of rows) lines.push(`| ${r.fault} | ${r.sources} | ${r.lost} | ${r.seconds} | ${r.detail} |`);
  return lines.join("\n");
}

async function main(): Promise<number> {
  const lacking = missing(["ip", "nft"]);
  if (lacking) {
    console.error(`faults: ${lacking}`);
    return 69;
  }
  requireBuild();
  // `npm run faults -- nft table` runs only those.
  const asked = process.argv.slice(2).filter((a): a is keyof typeof FAULTS => a in FAULTS);
  const rows: FaultRow[] = [];
  for (const name of asked.length ? asked : (Object.keys(FAULTS) as (keyof typeof FAULTS)[])) {
    const r = await FAULTS[name]();
    console.error(`${r.fault}: ${r.lost} of ${r.sources} lost (${r.seconds} s)`);
    rows.push(r);
  }
  console.log(JSON.stringify({ machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, faults: rows }, null, 2));
  console.log(table(rows));
  return rows.some((r) => r.lost > 0) ? 1 : 0;
}

void main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
