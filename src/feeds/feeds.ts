import type { BanQueue } from "../bans/queue.js";
import { dataError } from "../errors.js";
import { Jobs } from "../util/jobs.js";
import type { Logger } from "../log.js";
import { parsePrefix, prefixKey, type Prefix } from "../net/address.js";
import type { Policy } from "../policy/policy.js";
import type { Store } from "../store/store.js";
import { refreshFeed, type FeedWork, type RefreshOutcome } from "./apply.js";
import { feedInterval, plainHttpWarning, type FeedConfig } from "./config.js";
import { noRefusals, type RefusalCounts } from "./parse.js";
import { CrowdsecStream } from "./crowdsec.js";
import { feedRules } from "./rules.js";
import { feedSource, FeedStore, type FeedRow } from "./state.js";
import { feedView, type FeedView } from "./view.js";
import { Serial } from "../util/serial.js";

// How often due feeds are looked for; a feed's interval is at least a minute.
const TICK_MS = 1_000;
// A failed fetch is tried again sooner than its interval, but not in a loop.
const RETRY_MS = 5 * 60_000;
// Trap bans of feed entries that expired, banned again as the feed's at most this often.
const REBAN_MS = 1_000;

/**
 * Per-feed counters for the metrics endpoint (issue 5 of the feeds issue,
 * once the HTTP part has landed): read `Feeds.counters`, nothing else needed.
 */
export interface FeedCounters {
  entries: number;
  /** ms since the epoch; 0: never. */
  lastSuccess: number;
  fetches: number;
  failures: number;
  heldBack: boolean;
  /** Of the last list read. */
  refused: RefusalCounts;
}

/** A feed `iblock feeds refresh` could not fetch, and why. */
export interface FailedFetch {
  name: string;
  status: string;
}

/**
 * The daemon's feeds: each fetched at start and every `interval`, one at a
 * time, applied through the ban queue; `iblock feeds` reads and drives them
 * over the control socket.
 */
export class Feeds {
  private readonly feeds: FeedStore;
  private readonly jobs: Jobs;
  private readonly nextAt = new Map<string, number>();
  private readonly stopper = new AbortController();
  /** One refresh at a time, whether due or asked for. */
  private readonly runs = new Serial();
  private unsubscribe: (() => void) | undefined;
  /** Expired trap bans of feed entries, waiting to be banned again. Bounded by the feeds' entries. */
  private readonly reban = new Map<string, { prefix: Prefix; feed: string }>();
  private rebanTimer: NodeJS.Timeout | undefined;
  /** The crowdsec feeds' streams, by name: each knows whether it has read its first whole list. */
  private readonly streams = new Map<string, CrowdsecStream>();
  readonly counters: Record<string, FeedCounters> = {};

  constructor(
    store: Store,
    private readonly queue: BanQueue,
    private readonly policy: Policy,
    private readonly log: Logger,
    private configs: readonly FeedConfig[],
  ) {
    this.feeds = new FeedStore(store);
    this.jobs = new Jobs((msg) => log.warn(msg));
    for (const f of configs) this.counters[f.name] = this.countersOf(this.feeds.get(f.name));
  }

  private countersOf(row: FeedRow | undefined): FeedCounters {
    return {
      entries: row?.entries ?? 0,
      lastSuccess: row?.last_success ?? 0,
      fetches: 0,
      failures: 0,
      heldBack: row?.held_digest != null,
      refused: row?.refused ? (JSON.parse(row.refused) as RefusalCounts) : noRefusals(),
    };
  }

  private get work(): FeedWork {
    return {
      feeds: this.feeds,
      queue: this.queue,
      log: this.log,
      signal: this.stopper.signal,
      rules: (feed: FeedConfig) => feedRules(this.policy, feed),
    };
  }

  /** After the daemon's restore: every feed is due now. */
  async start(): Promise<void> {
    await this.retireGone();
    this.warnPlainHttp(this.configs);
    const now = Date.now();
    for (const f of this.configs) this.nextAt.set(f.name, now);
    this.unsubscribe = this.queue.changes.on((c) => {
      if (c.kind === "unban" && c.ending === "expired") this.noteExpired(c.prefix);
    });
    this.jobs.every(TICK_MS, () => this.runDue(), "fetching feeds");
  }

  /** A reloaded config: new feeds are due now, changed ones keep their schedule, removed ones are retired. */
  async reload(configs: readonly FeedConfig[]): Promise<void> {
    const now = Date.now();
    this.configs = configs;
    this.warnPlainHttp(configs);
    for (const f of configs) {
      if (!this.nextAt.has(f.name)) this.nextAt.set(f.name, now);
      this.counters[f.name] ??= this.countersOf(this.feeds.get(f.name));
    }
    for (const name of [...this.nextAt.keys()]) {
      if (configs.some((f) => f.name === name)) continue;
      this.nextAt.delete(name);
      this.streams.delete(name);
      delete this.counters[name];
    }
    await this.serial(() => this.retireGone());
  }

  private warnPlainHttp(configs: readonly FeedConfig[]): void {
    for (const f of configs) {
      const warning = plainHttpWarning(f);
      if (warning) this.log.warn(warning);
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    this.unsubscribe?.();
    clearTimeout(this.rebanTimer);
    await this.jobs.stop();
    await this.runs.idle();
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    return this.runs.run(op);
  }

  private async runDue(): Promise<void> {
    for (const feed of this.configs) {
      if (this.stopper.signal.aborted) return;
      if ((this.nextAt.get(feed.name) ?? Infinity) > Date.now()) continue;
      await this.serial(() => this.run(feed));
    }
  }

  private async run(feed: FeedConfig, accept = false): Promise<RefreshOutcome> {
    // Scheduled before the fetch: a refresh asked for meanwhile does not run it twice.
    this.nextAt.set(feed.name, Date.now() + feedInterval(feed));
    const outcome = feed.kind === "crowdsec" ? await this.stream(feed.name).refresh(this.work, feed) : await refreshFeed(this.work, feed, { accept });
    const c = (this.counters[feed.name] ??= this.countersOf(undefined));
    c.fetches++;
    if (outcome.result === "failed") {
      c.failures++;
      this.nextAt.set(feed.name, Date.now() + Math.min(feedInterval(feed), RETRY_MS));
    }
    const row = this.feeds.get(feed.name);
    Object.assign(c, { ...this.countersOf(row), fetches: c.fetches, failures: c.failures });
    return outcome;
  }

  private stream(name: string): CrowdsecStream {
    let stream = this.streams.get(name);
    if (!stream) this.streams.set(name, (stream = new CrowdsecStream(this.log)));
    return stream;
  }

  private feed(name: string): FeedConfig {
    const feed = this.configs.find((f) => f.name === name);
    if (!feed) throw dataError(`no feed named ${JSON.stringify(name)} (feeds: ${this.configs.map((f) => f.name).join(", ") || "none configured"})`);
    return feed;
  }

  /** `iblock feeds refresh [NAME]`: fetch now, one after another; the views afterwards, and the feeds whose fetch failed. */
  async refresh(name?: string): Promise<{ views: FeedView[]; failed: FailedFetch[] }> {
    const feeds = name === undefined ? this.configs : [this.feed(name)];
    const failed: FailedFetch[] = [];
    for (const f of feeds) {
      const outcome = await this.serial(() => this.run(f));
      if (outcome.result === "failed") failed.push({ name: f.name, status: outcome.status });
    }
    return { views: this.views(), failed };
  }

  /** `iblock feeds accept NAME`: apply the list held back (shrunk or grown), if it is still what the feed serves. */
  async accept(name: string): Promise<{ applied: boolean; status: string }> {
    const feed = this.feed(name);
    if (this.feeds.get(name)?.held_digest == null) throw dataError(`feed ${name} holds nothing back`);
    const outcome = await this.serial(() => this.run(feed, true));
    if (outcome.result === "applied") return { applied: true, status: outcome.status };
    return { applied: false, status: outcome.result === "held" ? `the list changed since it was held back; look again: ${outcome.status}` : outcome.status };
  }

  views(): FeedView[] {
    return this.configs.map((f) => feedView(f, this.feeds.get(f.name), this.nextAt.get(f.name)));
  }

  /**
   * A trap ban of an address a feed lists ran out: the feed's ban takes over
   * (the trap's ban kept it while it lasted, and the feed never dropped it).
   */
  private noteExpired(prefix: Prefix): void {
    const holders = this.feeds.holders(prefixKey(prefix));
    // A CrowdSec decision has its own time: an expired ban of one is not made again.
    const feed = holders.find((h) => this.configs.some((f) => f.name === h && f.kind === "list"));
    if (!feed) return;
    this.reban.set(prefixKey(prefix), { prefix, feed });
    this.rebanTimer ??= setTimeout(() => {
      this.rebanTimer = undefined;
      void this.serial(() => this.rebanExpired()).catch((e: Error) => this.log.warn(`feeds: banning expired entries again: ${e.message}`));
    }, REBAN_MS);
  }

  private async rebanExpired(): Promise<void> {
    const byFeed = new Map<string, Prefix[]>();
    for (const { prefix, feed } of this.reban.values()) byFeed.set(feed, [...(byFeed.get(feed) ?? []), prefix]);
    this.reban.clear();
    const work = this.work;
    for (const [feed, prefixes] of byFeed) {
      const config = this.configs.find((f) => f.name === feed);
      if (!config) continue;
      // Allowed or ours since the feed listed it (a SIGHUP): not banned again.
      const rules = work.rules(config);
      const usable = prefixes.filter((p) => !rules.ours(p) && !rules.allowed(p));
      if (usable.length) await this.queue.imports.importBans(usable, { source: feedSource(feed), reason: `feed ${feed}`, durationMs: Infinity });
    }
  }

  /** Feeds the store knows that the config no longer has: their bans ended, their entries forgotten. */
  private async retireGone(): Promise<void> {
    for (const row of this.feeds.all()) {
      if (this.configs.some((f) => f.name === row.name)) continue;
      const keys = [...this.feeds.keys(row.name)];
      const reason = `feed ${row.name} removed from the config`;
      let ended = 0;
      for (let i = 0; i < keys.length; i += 5_000) {
        const done = this.feeds.dropEntries(row.name, keys.slice(i, i + 5_000), reason);
        await this.queue.imports.removeEnded(done.map(parsePrefix), reason);
        ended += done.length;
      }
      this.feeds.forget(row.name);
      this.log.info(`feed ${row.name} is no longer in the config: ${ended} of its ban(s) ended`);
    }
  }
}
