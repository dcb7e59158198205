import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BanChange } from "../bans/changes.js";
import type { BanRequest } from "../bans/ban-request.js";
import type { FeedCounters } from "../feeds/feeds.js";
import { sourceLabel, type BanCounts } from "./counts.js";
import type { EndKind } from "../store/store.js";

// Latency of a ban, hit to firewall: the listener route takes milliseconds, a retry seconds.
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Hits waiting for their ban, to time it; past this (a storm) the rest go untimed.
const MAX_TIMED = 65_536;
// A hit whose ban has not come within this long never will (a source already banned).
const TIMED_MS = 60_000;

/** The `reason` label of an ending: the labels the metric has always had. */
const UNBAN_LABEL: Record<EndKind, string> = { unban: "unban", expired: "expired", allowed: "allowed", covered: "covered", peer: "other", feed: "other", refused: "other" };

/**
 * The [[feed]] imports, read from Feeds.counters at the scrape. Refused lines
 * are a gauge of the last list read (what the feed holds now), not a running
 * count: a list fetched every hour would otherwise count the same lines again.
 */
function registerFeedMetrics(registers: Registry[], feeds: Readonly<Record<string, FeedCounters>>): void {
  const labelNames = ["feed"];
  const gauge = (name: string, help: string, read: (c: FeedCounters) => number): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [feed, c] of Object.entries(feeds)) this.set({ feed }, read(c));
      },
    });
  };
  const counter = (name: string, help: string, read: (c: FeedCounters) => number): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [feed, c] of Object.entries(feeds)) this.inc({ feed }, read(c));
      },
    });
  };
  gauge("iblock_feed_entries", "Entries of each feed in force (its last list applied)", (c) => c.entries);
  gauge("iblock_feed_last_success_timestamp_seconds", "When each feed was last fetched and applied (or found unchanged), seconds since the epoch; 0: never", (c) => c.lastSuccess / 1000);
  gauge("iblock_feed_held_back", "1 while a feed's list that shrank by half or grew tenfold is held back (until iblock feeds accept NAME)", (c) => (c.heldBack ? 1 : 0));
  counter("iblock_feed_fetches_total", "Fetches of each feed since start", (c) => c.fetches);
  counter("iblock_feed_fetch_failures_total", "Fetches of each feed that failed since start (its bans kept)", (c) => c.failures);
  new Gauge({
    name: "iblock_feed_refused_lines",
    help: "Lines of each feed's last list read that were refused, by reason",
    labelNames: ["feed", "reason"],
    registers,
    collect() {
      this.reset();
      for (const [feed, c] of Object.entries(feeds)) for (const [reason, n] of Object.entries(c.refused)) this.set({ feed, reason }, n);
    },
  });
}

/** The route a hit came by: the kernel's report, or a listener. */
const routeOf = (source: string): string => (source === "trap" ? "listener" : source === "kernel" || source === "syn" ? "kernel" : sourceLabel(source));

export interface MetricSources {
  counts: BanCounts;
  queueSizes(): { pending: number; unapplied: number; unremoved: number; waiters: number };
  /** Writes to the store that failed since start. */
  storeErrors(): number;
  /** Feed name -> its counters (Feeds.counters), read at the scrape. */
  feeds: Readonly<Record<string, FeedCounters>>;
}

/**
 * The daemon's Prometheus metrics (prom-client, a registry of our own). Every
 * value is a counter kept as things happen or a gauge read at the scrape from
 * something already in memory: a scrape never reads the store.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly bansTotal;
  private readonly hitsTotal;
  private readonly unbansTotal;
  private readonly latency;
  private readonly firewallSeconds;
  private readonly firewallErrors;
  private readonly reconciles;
  private readonly kernelReports;
  private seenFill = 0;
  /** prefix key -> when its first hit was seen, and by which route: for the latency histogram. */
  private readonly timed = new Map<string, { at: number; route: string }>();

  constructor(private readonly from: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const counts = from.counts;
    new Gauge({
      name: "iblock_bans_active",
      help: "Bans in force, by address family and by what made them",
      labelNames: ["family", "source"],
      registers,
      collect() {
        this.reset();
        for (const [key, n] of counts.bySource()) {
          const [family, source] = key.split("|");
          this.set({ family: `ipv${family ?? ""}`, source: source ?? "" }, n);
        }
      },
    });
    this.bansTotal = new Counter({ name: "iblock_bans_total", help: "Bans put in the firewall since start, by what made them", labelNames: ["source"], registers });
    this.hitsTotal = new Counter({ name: "iblock_hits_total", help: "Trap hits seen since start, by trap port (0: not known) and route", labelNames: ["port", "route"], registers });
    this.unbansTotal = new Counter({ name: "iblock_unbans_total", help: "Bans ended since start, by reason", labelNames: ["reason"], registers });
    this.latency = new Histogram({
      name: "iblock_ban_latency_seconds",
      help: "From the daemon seeing a source's first hit to its ban in the firewall, by route (the kernel route has banned in the kernel already: this is its bookkeeping)",
      labelNames: ["route"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.firewallSeconds = new Histogram({
      name: "iblock_firewall_update_duration_seconds",
      help: "Duration of firewall updates, by operation",
      labelNames: ["op"],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.firewallErrors = new Counter({ name: "iblock_firewall_errors_total", help: "Firewall updates that failed, by operation", labelNames: ["op"], registers });
    this.reconciles = new Counter({ name: "iblock_reconcile_runs_total", help: "Checks of the firewall against the store, by outcome (intact, restored at start, repaired, failed)", labelNames: ["outcome"], registers });
    this.kernelReports = new Counter({ name: "iblock_kernel_report_overflows_total", help: "Times the kernel route's report sets filled (hits adopted by a scan)", registers });
    const seenFill = (): number => this.seenFill;
    new Gauge({
      name: "iblock_seen_set_fill_ratio",
      help: "How full the kernel route's report sets were at the last read (1: full)",
      registers,
      collect() {
        this.set(seenFill());
      },
    });
    new Gauge({
      name: "iblock_queue_depth",
      help: "Bans and removals waiting in the ban queue, by stage",
      labelNames: ["stage"],
      registers,
      collect() {
        const s = from.queueSizes();
        this.set({ stage: "pending" }, s.pending);
        this.set({ stage: "unapplied" }, s.unapplied);
        this.set({ stage: "unremoved" }, s.unremoved);
        this.set({ stage: "waiters" }, s.waiters);
      },
    });
    new Counter({
      name: "iblock_store_errors_total",
      help: "Writes to the store that failed since start (a full disk, an I/O error); bans go on meanwhile",
      registers,
      collect() {
        this.reset();
        this.inc(from.storeErrors());
      },
    });
    registerFeedMetrics(registers, from.feeds);
  }

  /** A ban applied or ended (queue.changes). */
  change(c: BanChange): void {
    if (c.kind === "unban") {
      this.unbansTotal.inc({ reason: UNBAN_LABEL[c.ending] });
      return;
    }
    if (c.renewed) return;
    this.bansTotal.inc({ source: sourceLabel(c.source) });
    const key = `${c.prefix.address}/${c.prefix.length}`;
    const seen = this.timed.get(key);
    if (seen) {
      this.timed.delete(key);
      this.latency.observe({ route: seen.route }, Math.max(0, c.at - seen.at) / 1000);
    }
  }

  /** A hit on its way to the queue; `count` 0: the same connection counted already by the other route. */
  hit(req: BanRequest, count: number, now = Date.now()): void {
    const route = req.route ?? routeOf(req.source);
    if (count > 0) this.hitsTotal.inc({ port: String(req.port ?? 0), route }, count);
    const key = `${req.prefix.address}/${req.prefix.length}`;
    if (this.timed.has(key)) return;
    if (this.timed.size >= MAX_TIMED) this.forgetOld(now);
    if (this.timed.size < MAX_TIMED) this.timed.set(key, { at: now, route });
  }

  private forgetOld(now: number): void {
    // Insertion order is age order.
    for (const [key, v] of this.timed) {
      if (now - v.at < TIMED_MS) break;
      this.timed.delete(key);
    }
  }

  firewallOp(op: string, seconds: number, ok: boolean): void {
    this.firewallSeconds.observe({ op }, seconds);
    if (!ok) this.firewallErrors.inc({ op });
  }

  kernelDrain(hits: number, capacity: number, overflowed: boolean): void {
    this.seenFill = capacity > 0 ? Math.min(1, hits / capacity) : 0;
    if (overflowed) this.kernelReports.inc();
  }

  reconcile(outcome: "intact" | "restored" | "repaired" | "failed"): void {
    this.reconciles.inc({ outcome });
  }

  /** Every minute: hits that never became a ban leave the latency map. */
  tick(now = Date.now()): void {
    this.forgetOld(now);
  }
}
