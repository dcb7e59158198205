import type { Logger } from "../log.js";
import { Backoff } from "../util/backoff.js";
import { SendQueue, type SendCounts } from "../util/send-queue.js";
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

export type HookCounts = SendCounts;

/** One hook's events (on_ban or on_unban): the send queue, as hooks use it. */
export class HookQueue extends SendQueue<HookEvent> {
  constructor(
    /** "on_ban" or "on_unban". */
    readonly name: string,
    deliver: Deliver,
    log: Logger,
  ) {
    super({ name: `hooks: ${name}`, send: deliver, gatherMs: GATHER_MS, batchMax: BATCH_MAX, queueMax: QUEUE_MAX, attempts: ATTEMPTS, backoff: new Backoff(1_000, 2_000), log });
  }
}
