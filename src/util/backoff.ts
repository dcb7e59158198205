/**
 * A delay that doubles after each failure, from `minMs` up to `maxMs`, and
 * starts again at `minMs` after a success: the one way iblock waits before
 * trying something again.
 */
export class Backoff {
  private delay: number;

  constructor(
    private readonly minMs: number,
    private maxMs: number,
  ) {
    this.delay = minMs;
  }

  /** The delay to wait now; the next one is twice as long, up to the most. */
  next(): number {
    const now = this.delay;
    this.delay = Math.min(this.delay * 2, this.maxMs);
    return now;
  }

  reset(): void {
    this.delay = this.minMs;
  }

  /** A new ceiling (a reloaded config); the delay in force never exceeds it. */
  limit(maxMs: number): void {
    this.maxMs = maxMs;
    this.delay = Math.min(this.delay, maxMs);
  }
}
