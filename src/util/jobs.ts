import { throttled } from "./throttled.js";

interface Job {
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
}

/**
 * The daemon's periodic jobs (drain the kernel route, expire, reconcile,
 * prune). A job runs again `ms` after its last run ended, whatever that run did:
 * threw at once, rejected, or resolved. A dead job would leave a daemon that
 * looks alive and has stopped doing its work.
 */
export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private stopped = false;

  /** `warn` gets a failed run's message, at most once per 30 s per job. */
  constructor(private readonly warn: (message: string) => void) {}

  /** `ms`: the wait after each run, or a function asked for it after each run. */
  every(ms: number | (() => number), job: () => unknown, what: string): void {
    const wait = typeof ms === "number" ? () => ms : ms;
    const say = throttled(30_000, (msg) => this.warn(msg));
    const state: Job = {};
    this.jobs.set(what, state);
    const tick = (): void => {
      // Promise.resolve().then: a job that throws synchronously is a rejection like any other.
      state.running = Promise.resolve()
        .then(job)
        .then(
          () => undefined,
          (e: unknown) => say(`${what}: ${e instanceof Error ? e.message : String(e)}`),
        )
        .finally(() => {
          state.running = undefined;
          if (!this.stopped) state.timer = setTimeout(tick, wait());
        });
    };
    state.timer = setTimeout(tick, wait());
  }

  /** No new runs; resolves when the runs in flight have ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    await Promise.all([...this.jobs.values()].flatMap((j) => (j.running ? [j.running] : [])));
  }
}
