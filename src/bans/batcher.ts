/**
 * Runs `work` over whatever has been submitted, one run at a time: while a run
 * is in flight, new items wait and go together in the next run. Under a storm
 * this turns thousands of events into a handful of calls.
 */
export class Batcher<T> {
  private items: T[] = [];
  private running: Promise<void> | undefined;
  private lastRun = 0;

  /** `pauseMs`: at least this long between the starts of two runs (slow work runs at most so often). */
  constructor(
    private readonly work: (items: T[]) => Promise<void>,
    private readonly onError: (e: unknown) => void,
    private readonly pauseMs = 0,
  ) {}

  submit(...items: T[]): void {
    this.items.push(...items);
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    // Let the events of the same tick join the first batch.
    await new Promise((r) => setImmediate(r));
    while (this.items.length) {
      const wait = this.lastRun + this.pauseMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const batch = this.items;
      this.items = [];
      this.lastRun = Date.now();
      await this.work(batch).catch(this.onError);
    }
    this.running = undefined;
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}
