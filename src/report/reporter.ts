import type { BanChange } from "../bans/changes.js";
import { isProvenHit, PROVEN_SOURCES } from "../bans/proven-sources.js";
import type { Logger } from "../log.js";
import { prefixKey } from "../net/address.js";
import { printable } from "../printable.js";
import type { ReportQueue } from "../store/report-queue.js";
import { Backoff } from "../util/backoff.js";
import { throttled } from "../util/throttled.js";
import type { AbuseReport, ReportOutcome } from "./abuseipdb.js";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** AbuseIPDB refuses a second report of an address within 15 minutes. */
export const REPEAT_MS = 15 * MINUTE_MS;
/** Reports waiting at most; past it new bans are not queued (counted). */
export const QUEUE_MAX = 10_000;
/** A report tried this many times and failed each time is dropped (counted). */
export const MAX_ATTEMPTS = 5;
// Between failed attempts: 5 s doubling to 10 min; the four waits between five attempts add up to at least 75 s.
const RETRY_MIN_MS = 5_000;
const RETRY_MAX_MS = 10 * MINUTE_MS;


export interface ReportCounts {
  sent: number;
  failed: number;
  /** Not queued: reported or waiting already (15-minute rule). */
  recent: number;
  /** Not queued: the queue was full. Or dropped: older than a day when its turn came. */
  dropped: number;
  rateLimited: number;
}

export interface ReportStatus {
  queued: number;
  sent_24h: number;
  daily_budget: number;
  sent: number;
  failed: number;
  skipped_recent: number;
  dropped: number;
  /** While AbuseIPDB's 429 holds: until when (ISO). */
  paused_until?: string;
}

export interface ReporterOptions {
  budget: number;
  send: (r: AbuseReport) => Promise<ReportOutcome>;
  /** The clock; tests pass their own. */
  now?: () => number;
}

/**
 * Trap bans to AbuseIPDB: queued in the store as the ban happens (a tick
 * later, batched: the ban path never waits), sent one at a time within the
 * daily budget, each address at most once per 15 minutes.
 */
export class Reporter {
  private fresh: { prefix: string; port: number | null; at: number }[] = [];
  private scheduled = false;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private pausedUntil = 0;
  private readonly backoff = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  private readonly now: () => number;
  readonly counts: ReportCounts = { sent: 0, failed: 0, recent: 0, dropped: 0, rateLimited: 0 };
  private readonly warn: (msg: string) => void;

  constructor(
    private readonly queue: ReportQueue,
    private readonly opts: ReporterOptions,
    log: Logger,
  ) {
    this.now = opts.now ?? Date.now;
    this.warn = throttled(MINUTE_MS, (msg, skipped) => log.warn(`report: ${msg}${skipped ? ` (${skipped} more since)` : ""}`));
  }

  /** The queue's change feed: synchronous and cheap; the store write happens a tick later, batched. */
  readonly onChange = (c: BanChange): void => {
    if (c.kind !== "ban" || c.renewed || !isProvenHit(c.source)) return;
    // A wider ban (an IPv6 /64) names no one address: the scanner's own is not kept.
    if (c.prefix.length !== (c.prefix.family === 4 ? 32 : 128)) return;
    this.fresh.push({ prefix: prefixKey(c.prefix), port: c.port, at: c.at });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.persist();
      this.kick();
    });
  };

  private persist(): void {
    if (this.fresh.length === 0) return;
    const batch = this.fresh;
    this.fresh = [];
    try {
      const r = this.queue.enqueue(batch, this.now() - REPEAT_MS, QUEUE_MAX);
      this.counts.recent += r.recent;
      this.counts.dropped += r.full;
      if (r.full) this.warn(`${r.full} ban(s) not queued: ${QUEUE_MAX} reports wait already`);
    } catch (e) {
      this.counts.dropped += batch.length;
      this.warn(`cannot queue ${batch.length} report(s) in the store: ${(e as Error).message}`);
    }
  }

  /**
   * At start: the bans of the last 15 minutes whose report was never queued
   * (the daemon killed in the instant between the two) are queued now.
   */
  start(): void {
    try {
      const n = this.queue.queueMissed(this.now() - REPEAT_MS, PROVEN_SOURCES, REPEAT_MS);
      if (n) this.warn(`${n} recent trap ban(s) had no report queued (a stop in between): queued now`);
    } catch (e) {
      this.warn(`cannot look for unreported bans: ${(e as Error).message}`);
    }
    this.kick();
  }

  /** Send what is due, unless a send is under way. */
  kick(): void {
    if (this.stopped || this.sending) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = this.sendDue()
      .catch((e: Error) => {
        this.warn(`sending failed: ${e.message}`);
        this.later(this.now() + MINUTE_MS);
      })
      .finally(() => (this.sending = undefined));
  }

  private later(at: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), Math.max(0, at - this.now()));
  }

  private async sendDue(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const now = this.now();
      if (now < this.pausedUntil) return this.later(this.pausedUntil);
      this.queue.forget(now - DAY_MS);
      const spent = this.queue.sentSince(now - DAY_MS);
      // The budget is a rolling day: the next report goes when the first of the day's leaves it.
      if (spent.n >= this.opts.budget) return this.later((spent.first ?? now) + DAY_MS + 1);
      const r = this.queue.due(now);
      if (!r) {
        const next = this.queue.nextDue();
        return next === undefined ? undefined : this.later(next);
      }
      const address = r.prefix.slice(0, r.prefix.lastIndexOf("/"));
      if (this.queue.reportedAfter(r.prefix, now - REPEAT_MS)) {
        this.counts.recent++;
        this.queue.drop(r.prefix);
        continue;
      }
      // Reported a day late says little, and would hold the budget from today's scanners.
      if (r.banned_at < now - DAY_MS) {
        this.counts.dropped++;
        this.queue.drop(r.prefix);
        continue;
      }
      this.apply(r.prefix, address, r.attempts, await this.opts.send({ address, port: r.port, at: r.banned_at }));
    }
  }

  private apply(prefix: string, address: string, attempts: number, o: ReportOutcome): void {
    const now = this.now();
    switch (o.kind) {
      case "sent":
        this.counts.sent++;
        this.backoff.reset();
        this.queue.sent(prefix, now);
        return;
      case "rate-limited":
        this.counts.rateLimited++;
        this.pausedUntil = now + o.retryAfterMs;
        this.warn(`AbuseIPDB answered 429 (too many requests): no report before ${new Date(this.pausedUntil).toISOString()}`);
        return;
      case "refused":
        this.counts.failed++;
        this.queue.drop(prefix);
        this.warn(`AbuseIPDB refused the report of ${address} (HTTP ${o.status}): ${printable(o.detail)}`);
        return;
      case "failed":
        if (attempts + 1 >= MAX_ATTEMPTS) {
          this.counts.failed++;
          this.queue.drop(prefix);
          this.warn(`reporting ${address} failed ${MAX_ATTEMPTS} times, dropped: ${printable(o.detail)}`);
        } else {
          // Their service or our way to it is down: nothing goes until the wait is over.
          this.pausedUntil = now + this.backoff.next();
          this.queue.postpone(prefix, this.pausedUntil);
          this.warn(`reporting ${address} failed, trying again from ${new Date(this.pausedUntil).toISOString()}: ${printable(o.detail)}`);
        }
        return;
    }
  }

  status(): ReportStatus {
    const now = this.now();
    return {
      queued: this.queue.size(),
      sent_24h: this.queue.sentSince(now - DAY_MS).n,
      daily_budget: this.opts.budget,
      sent: this.counts.sent,
      failed: this.counts.failed,
      skipped_recent: this.counts.recent,
      dropped: this.counts.dropped,
      ...(now < this.pausedUntil ? { paused_until: new Date(this.pausedUntil).toISOString() } : {}),
    };
  }

  /** What waits stays in the store, sent after the next start; a send in flight is awaited a while. */
  async stop(waitMs: number): Promise<void> {
    this.persist();
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.sending) await Promise.race([this.sending, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }
}
