// `npm run bench -- storm [SOURCES]`: a storm of 50,000 distinct sources
// (198.18.0.0/15) spread over 4 s against a daemon with an empty store, default
// config (kernel route). Prints how long after the storm's last handshake every
// source was logged ("blocking") and recorded in the store, which were not, and
// the daemon's longest event-loop stall. bench/scale.ts runs the same storm
// against a daemon holding a million bans.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { parsePrefix } from "../src/net/address.js";
import { Store } from "../src/store/store.js";
import { Instance, requireBuild, tempDir } from "../test/support/daemon.js";
import { ADDR, Topology } from "../test/support/netns.js";
import { sleep } from "../test/support/proc.js";
import { epochMs, round, runScript, STORM_SCRIPT, type StormRun } from "./measure.js";

const stormSource = (i: number): string => {
  const n = Math.floor(i / 254);
  return `198.${18 + (n >> 8)}.${n & 255}.${(i % 254) + 1}`;
};

export interface StormFigures {
  sources: number;
  handshakes: number;
  spreadMs: number | null;
  allLoggedAfterEndMs: number | null;
  allRecordedAfterEndMs: number | null;
  logged: number;
  recorded: number;
  notLoggedSample: string[];
  notRecordedSample: string[];
  longestStallMs: number | undefined;
  warnings: string[];
}

/** The i-th address of 240.0.0.0/4 (reserved, never routed): the bans preloaded. */
const bulkAddress = (i: number): string => `${240 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

/** `preload`: bans put in the store before the start (the storm then meets a daemon holding them). */
export async function storm(n = 50_000, preload = 0): Promise<StormFigures> {
  requireBuild();
  const topo = await Topology.create({ manySources: true });
  const work = await tempDir(undefined, "iblock-storm-");
  const inst = new Instance(topo.host, join(work, "inst"));
  try {
    await inst.writeConfig({});
    if (preload) {
      const store = new Store(join(inst.stateDir, "iblock.sqlite"));
      store.importBans(Array.from({ length: preload }, (_, i) => parsePrefix(bulkAddress(i))), { source: "trap", reason: null, durationMs: 86_400_000 });
      store.close();
    }
    // IBLOCK_BENCH_PROF=FILE: a script the daemon preloads (say one that starts a CPU profile).
    if (process.env.IBLOCK_BENCH_PROF) inst.extraEnv = { NODE_OPTIONS: `--require ${process.env.IBLOCK_BENCH_PROF}` };
    const d = await inst.start({ readyTimeoutMs: 300_000 });
    // The storm meets the daemon after its background scan of the sets, not during it.
    if (preload) await d.waitForLine(/scanned the firewall \(start\)/, 600_000);
    const sources = Array.from({ length: n }, (_, i) => stormSource(i));
    const sourcesFile = join(work, "sources.txt");
    await writeFile(sourcesFile, sources.join("\n") + "\n");
    const from = d.lines.length;
    await inst.cli("stats", ["--json"]); // resets the daemon's stall meter
    const run = await runScript<StormRun>(topo, STORM_SCRIPT, { dst: ADDR.hostV4, ports: [21, 23, 445, 3389], sourcesFile, spreadMs: 4000 }, 120_000);
    const end = run.lastConnect;
    const db = new Database(join(inst.stateDir, "iblock.sqlite"), { readonly: true, fileMustExist: true });
    const count = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM bans WHERE prefix LIKE '198.1%'");
    const handshakes = run.connected + run.resetAtOnce;
    const loggedSet = (): Set<string> => new Set(d.lines.slice(from).map((l) => /blocking (198\.1[89]\.\d+\.\d+)/.exec(l)?.[1]).filter((a): a is string => a !== undefined));
    let loggedAt: number | null = null;
    let recordedAt: number | null = null;
    const deadline = epochMs() + 120_000;
    while (epochMs() < deadline && (loggedAt === null || recordedAt === null)) {
      if (loggedAt === null && loggedSet().size >= handshakes) loggedAt = epochMs();
      if (recordedAt === null && (count.get()?.n ?? 0) >= handshakes) recordedAt = epochMs();
      await sleep(50);
    }
    const stats = JSON.parse((await inst.cli("stats", ["--json"])).stdout) as { daemon?: { event_loop_max_ms: number } };
    const logged = loggedSet();
    const stored = new Set(db.prepare<[], { prefix: string }>("SELECT prefix FROM bans WHERE prefix LIKE '198.1%'").all().map((r) => r.prefix.replace(/\/32$/, "")));
    db.close();
    const figures: StormFigures = {
      sources: n,
      handshakes,
      spreadMs: round(run.lastAttempt - run.firstAttempt, 0),
      allLoggedAfterEndMs: loggedAt === null ? null : round(loggedAt - end, 0),
      allRecordedAfterEndMs: recordedAt === null ? null : round(recordedAt - end, 0),
      logged: logged.size,
      recorded: stored.size,
      notLoggedSample: sources.filter((s) => !logged.has(s)).slice(0, 5),
      notRecordedSample: sources.filter((s) => !stored.has(s)).slice(0, 5),
      longestStallMs: stats.daemon?.event_loop_max_ms,
      warnings: d.lines.slice(from).filter((l) => /warning|error/.test(l)).slice(0, 10),
    };
    await d.stop(30_000);
    return figures;
  } finally {
    await inst.cleanup();
    await topo.destroy();
  }
}
