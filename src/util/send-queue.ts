import type { Logger } from "../log.js";
import type { Backoff } from "./backoff.js";
import { throttled } from "./throttled.js";

export interface SendQueueOptions<T> {
  /** Starts each log line ("hooks: on_ban", "[crowdsec]"). */
  name: string;
  /** Hands a batch over; rejects when it was not taken. */
  send: (batch: readonly T[]) => Promise<void>;
  /** Items that come within this of the first go in one batch. */
  gatherMs: number;
  batchMax: number;
  /** Items waiting at most; past it new ones are dropped (counted). */
  queueMax: number;
  /** Tries of a batch before it is dropped (counted); Infinity keeps it until it goes. */
  attempts: number;
  /** Between failed tries. */
  backoff: Backoff;
  log: Logger;
}

export interface SendCounts {
  /** Batches handed over, retries included. */
  calls: number;
  failures: number;
  /** Items taken. */
  sent: number;
  /** Items that found the queue full, or whose batch failed every try. */
  dropped: number;
}

/**
 * What the daemon tells a service of its bans (hooks, CrowdSec's alerts):
 * items gathered, then handed over in batches, one call at a time, in order,
 * retried with the backoff. `push` only appends, so the ban path never waits;
 * the queue is bounded, and what it drops is counted and said (once a
 * minute at most).
 */
export class SendQueue<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  readonly counts: SendCounts = { calls: 0, failures: 0, sent: 0, dropped: 0 };
  private readonly warn: (msg: string) => void;

  constructor(private readonly o: SendQueueOptions<T>) {
    this.warn = throttled(60_000, (msg, skipped) => o.log.warn(`${o.name}: ${msg}${skipped ? ` (${skipped} more since the last line)` : ""}`));
  }

  get queued(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.stopped) return;
    if (this.items.length >= this.o.queueMax) {
      this.counts.dropped++;
      this.warn(`${this.o.queueMax} wait already: new ones are dropped (counted) until they go`);
      return;
    }
    this.items.push(item);
    if (!this.timer && !this.running) this.timer = setTimeout(() => this.start(), this.o.gatherMs);
  }

  private start(): void {
    this.timer = undefined;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // Items that came during the last call: their own gathering time has passed.
      if (this.items.length && !this.stopped) this.start();
    });
  }

  private async drain(): Promise<void> {
    while (this.items.length && !this.stopped) {
      for (let attempt = 1; !this.stopped; attempt++) {
        // The oldest batchMax each try: kept in the queue until taken (or dropped).
        const batch = this.items.slice(0, this.o.batchMax);
        this.counts.calls++;
        try {
          await this.o.send(batch);
          this.items.splice(0, batch.length);
          this.counts.sent += batch.length;
          this.o.backoff.reset();
          break;
        } catch (e) {
          this.counts.failures++;
          if (this.stopped) return;
          if (attempt >= this.o.attempts) {
            this.items.splice(0, batch.length);
            this.counts.dropped += batch.length;
            this.warn(`${batch.length} dropped after ${attempt} failed tries: ${(e as Error).message}`);
            break;
          }
          const delay = this.o.backoff.next();
          this.warn(`failed, trying again in ${delay / 1000} s: ${(e as Error).message}`);
          await new Promise<void>((r) => {
            const t = setTimeout(r, delay);
            this.wake = () => {
              clearTimeout(t);
              r();
            };
          });
          this.wake = undefined;
        }
      }
    }
  }

  /** No more sending; a call in flight is awaited at most `waitMs`. Says how many were still waiting (they are not kept). */
  async stop(waitMs: number): Promise<number> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, waitMs).unref())]);
    const left = this.items.length;
    this.items = [];
    return left;
  }
}
