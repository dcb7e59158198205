import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

// How often the event loop's delay is sampled while sampling is on: a stall
// reads up to this much short.
const TICK_MS = 20;
// Sampling stays on this long after the last sign of work.
const QUIET_MS = 60_000;

/**
 * The event loop's longest stall, for `iblock stats`. Each sample wakes the
 * process, which cost an idle host 0.5% of a core (at 10 ms and at 20 ms alike): so samples are
 * taken only while the daemon works, from the first sign of it (a hit, a
 * command, a ban or unban; the caller says `working()`) until a minute after
 * the last. Nothing stalls a loop that has nothing to do.
 */
export class LoopStall {
  /**
   * Made anew each time sampling starts: one enabled again would take the
   * whole quiet spell since its last sample for a stall.
   */
  private delay: IntervalHistogram | undefined;
  /** The longest stall of the samplings that ended since the last takeMax(). */
  private carriedMs = 0;
  private lastWork = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** Work starts or goes on: sample now and for QUIET_MS after. Cheap enough for every hit of a storm. */
  working(): void {
    this.lastWork = this.now();
    if (this.quietTimer || this.stopped) return;
    this.delay = monitorEventLoopDelay({ resolution: TICK_MS });
    this.delay.enable();
    this.quietTimer = setTimeout(() => this.checkQuiet(), QUIET_MS).unref();
  }

  private checkQuiet(): void {
    const quietFor = this.now() - this.lastWork;
    if (quietFor < QUIET_MS) {
      this.quietTimer = setTimeout(() => this.checkQuiet(), QUIET_MS - quietFor).unref();
      return;
    }
    this.quietTimer = undefined;
    this.endSampling();
  }

  /**
   * The longest stall since the last call, in ms, and start again. The
   * histogram holds the times between its ticks, not how late they came: a
   * loop held 50 ms reads as 70, so the tick is taken off.
   */
  takeMax(): number {
    const ms = Math.max(this.carriedMs, this.sampledMs());
    this.carriedMs = 0;
    this.delay?.reset();
    return ms;
  }

  private endSampling(): void {
    this.carriedMs = Math.max(this.carriedMs, this.sampledMs());
    this.delay?.disable();
    this.delay = undefined;
  }

  private sampledMs(): number {
    const d = this.delay;
    return d?.count ? Math.max(0, Math.round((d.max / 1e6 - TICK_MS) * 10) / 10) : 0;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    this.endSampling();
  }
}
