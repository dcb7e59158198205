/**
 * Runs `work` over whatever has been submitted, one run at a time: while a run
 * is in flight, new items wait and go together in the next run. Under a storm
 * this turns thousands of events into a handful of calls.
 */
export class Batcher<T> {
  private items: T[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly work: (items: T[]) => Promise<void>,
    private readonly onError: (e: unknown) => void,
  ) {}

  submit(...items: T[]): void {
    this.items.push(...items);
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    // Let the connections of the same tick join the first batch.
    await new Promise((r) => setImmediate(r));
    while (this.items.length) {
      const batch = this.items;
      this.items = [];
      await this.work(batch).catch(this.onError);
    }
    this.running = undefined;
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}
