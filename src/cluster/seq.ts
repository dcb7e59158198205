import { formatDuration } from "../policy/duration.js";
import { isoTime } from "../time-text.js";

/**
 * The sequence each host signs into its messages, and the bound every host
 * holds a message's time and sequence to.
 *
 * A sequence is the clock in ms x 1000, or one more than the last if that is
 * larger (a clock stepped back, a thousand messages in a ms): it only grows,
 * also across a new store, and it stays near the clock. A host refuses a
 * sequence it has passed for that origin (a copy put back into the stream);
 * and one further ahead than the clock skew allows, which a holder of the
 * secret could otherwise sign to silence that origin for years.
 */
export const SEQ_PER_MS = 1000;

/** The sequence after `last`, at `now` (ms). */
export function nextSeq(last: number, now: number): number {
  return Math.max(last + 1, now * SEQ_PER_MS);
}

/** Why a message dated `at` with `seq` is too far ahead of `now`, or undefined. */
export function aheadOfClock(at: number, seq: number, now: number, skewMs: number): string | undefined {
  const limit = now + skewMs;
  if (at > limit) return `dated ${isoTime(at)}, more than the clock skew (${formatDuration(skewMs)}) ahead of this host's clock`;
  if (seq > limit * SEQ_PER_MS) return `its sequence ${seq} runs more than the clock skew (${formatDuration(skewMs)}) ahead of this host's clock`;
  return undefined;
}
