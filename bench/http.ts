// `npm run bench -- http`: the HTTP server at 1,000,000 bans in force. The
// store is filled by the store's own bulk path (as `bench -- scale`), the
// daemon runs with firewall = "none" in a namespace (what is measured is the
// HTTP side, not nftables' restore), and the test's bridge reaches its
// loopback. Measured: the /metrics scrape (the issue asks for < 50 ms), the
// counts' start-up recount, /api/stats, a page of /api/bans, the whole
// /blocklist.txt, and the daemon's longest event-loop stall meanwhile.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { parsePrefix } from "../src/net/address.js";
import { Store } from "../src/store/store.js";
import { Instance, type IblockConfig } from "../test/support/daemon.js";
import { Bridge } from "../test/support/http-bridge.js";
import { Topology } from "../test/support/netns.js";
import { epochMs, round } from "./measure.js";

const BANS = 1_000_000;
const SCRAPES = 30;

/** The i-th address of 240.0.0.0/4: reserved, never routed; only rows here. */
const bulkAddress = (i: number): string => `${240 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

export async function httpBench(): Promise<Record<string, unknown>> {
  const work = await mkdtemp(join(tmpdir(), "iblock-bench-http-"));
  const cleanups: (() => unknown)[] = [];
  // The bridge wants a test's context only to clean up after itself.
  const ctx = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  const topo = await Topology.create({ service: false });
  try {
    const inst = new Instance(topo.host, join(work, "inst"));
    await inst.writeConfig({ firewall: "none", trap_ports: [23], http: { enabled: true } } as unknown as IblockConfig);
    console.error(`bench http: a store of ${BANS} bans ...`);
    const store = new Store(join(inst.stateDir, "iblock.sqlite"));
    store.importBans(Array.from({ length: BANS }, (_, i) => parsePrefix(bulkAddress(i))), { source: "trap", reason: null, durationMs: 86_400_000 });
    store.close();
    const t0 = epochMs();
    const d = await inst.start({ readyTimeoutMs: 300_000 });
    const readyMs = round(epochMs() - t0, 0);
    const http = await Bridge.open(ctx, topo.host, "127.0.0.1", 9107);
    const timed = async (path: string): Promise<{ ms: number; bytes: number; status: number }> => {
      const s = performance.now();
      const r = await http.request(path, { timeoutMs: 120_000 });
      return { ms: performance.now() - s, bytes: r.raw.length, status: r.status };
    };
    await http.request("/api/stats"); // the daemon's event-loop stall is reset by each stats
    await inst.cli("stats", ["--json"]);
    console.error("bench http: /metrics ...");
    const scrapes: number[] = [];
    let metricsBytes = 0;
    for (let i = 0; i < SCRAPES; i++) {
      const r = await timed("/metrics");
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
      scrapes.push(r.ms);
      metricsBytes = r.bytes;
    }
    const active = /iblock_bans_active\{family="ipv4",source="trap"\} (\d+)/.exec((await http.request("/metrics")).text)?.[1];
    const stallOf = async (): Promise<number | undefined> =>
      (JSON.parse((await inst.cli("stats", ["--json"])).stdout) as { daemon?: { event_loop_max_ms?: number } }).daemon?.event_loop_max_ms;
    const stallScrapes = await stallOf();
    const stats = await timed("/api/stats");
    const page = await timed("/api/bans?limit=1000&after=900000");
    console.error("bench http: /blocklist.txt ...");
    const gz = await http.request("/blocklist.txt", { headers: { "accept-encoding": "gzip" }, timeoutMs: 120_000 });
    const stallApi = await stallOf();
    const list = await timed("/blocklist.txt");
    const stallList = await stallOf();
    await d.stop();
    return {
      bans: BANS,
      bansActiveMetric: Number(active),
      daemonReadyMs: readyMs,
      metrics: { scrapes: SCRAPES, p50Ms: round(percentile(scrapes, 50), 1), p99Ms: round(percentile(scrapes, 99), 1), maxMs: round(Math.max(...scrapes), 1), bytes: metricsBytes },
      apiStatsMs: round(stats.ms, 1),
      apiBansPageOf1000Ms: round(page.ms, 1),
      blocklistTxt: { ms: round(list.ms, 0), bytes: list.bytes, gzipBytes: gz.raw.length },
      daemonLongestStallMs: { duringScrapes: stallScrapes, duringApiAndGzipList: stallApi, duringPlainList: stallList },
    };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    await topo.destroy();
    await rm(work, { recursive: true, force: true });
  }
}
