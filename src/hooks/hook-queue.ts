import type { Logger } from "../log.js";
import { Backoff } from "../util/backoff.js";
import { throttled } from "../util/throttled.js";
import type { HookEvent } from "./event.js";

/** Hand a batch to a program or a webhook; rejects when it was not taken. */
export type Deliver = (events: readonly HookEvent[]) => Promise<void>;

// Events that come within this of the first go in one call.
const GATHER_MS = 500;
/** Events per call at most: a storm of 10,000 bans is 20 calls, not 10,000. */
export const BATCH_MAX = 500;
/** Events waiting at most; past it new ones are dropped (counted): a feed of a million must not fill memory. */
export const QUEUE_MAX = 10_000;
/** A batch is tried this many times (1 s, then 2 s apart), then dropped (counted). */
export const ATTEMPTS = 3;

export interface HookCounts {
  /** Calls made (programs run, webhook requests sent), retries included. */
  calls: number;
  /** Calls that failed. */
  failures: number;
  /** Events in batches that failed every attempt, or that found the queue full. */
  dropped: number;
}

/**
 * One hook's events: gathered, handed over in batches, one call at a time,
 * in order. Nothing here waits for anyone: `push` only appends.
 */
export class HookQueue {
  private events: HookEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  readonly counts: HookCounts = { calls: 0, failures: 0, dropped: 0 };
  private readonly warn: (msg: string) => void;

  constructor(
    /** "on_ban" or "on_unban", for the log. */
    readonly name: string,
    private readonly deliver: Deliver,
    log: Logger,
  ) {
    this.warn = throttled(60_000, (msg, skipped) => log.warn(`hooks: ${name}: ${msg}${skipped ? ` (${skipped} more since)` : ""}`));
  }

  push(e: HookEvent): void {
    if (this.stopped) return;
    if (this.events.length >= QUEUE_MAX) {
      this.counts.dropped++;
      this.warn(`${QUEUE_MAX} events wait already: dropping new ones`);
      return;
    }
    this.events.push(e);
    if (!this.timer && !this.running) this.timer = setTimeout(() => this.start(), GATHER_MS);
  }

  get queued(): number {
    return this.events.length;
  }

  private start(): void {
    this.timer = undefined;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // Events that came during the last call: their own gathering time has passed.
      if (this.events.length && !this.stopped) this.start();
    });
  }

  private async drain(): Promise<void> {
    while (this.events.length && !this.stopped) {
      const batch = this.events.splice(0, BATCH_MAX);
      const backoff = new Backoff(1_000, 2_000);
      for (let attempt = 1; ; attempt++) {
        this.counts.calls++;
        try {
          await this.deliver(batch);
          break;
        } catch (e) {
          this.counts.failures++;
          if (attempt >= ATTEMPTS || this.stopped) {
            this.counts.dropped += batch.length;
            this.warn(`${batch.length} event(s) dropped after ${attempt} failed attempt(s): ${(e as Error).message}`);
            break;
          }
          this.warn(`failed, trying again: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, backoff.next()));
        }
      }
    }
  }

  /** Events still waiting are lost (hooks are told, not kept); a call in flight is awaited a while. */
  async stop(waitMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.events = [];
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }
}
