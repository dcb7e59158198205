import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { testHold } from "../test-hold.js";
import { Backoff } from "../util/backoff.js";
import type { Jobs } from "../util/jobs.js";
import type { Pipeline } from "./pipeline.js";
import { expireBans } from "./expiry.js";

// The start's scan of the ban sets waits this long after the restore.
const START_SCAN_DELAY_MS = 2_000;
// Expired bans are closed this often (nftables expires its own elements; PF relies on this).
const EXPIRY_MS = 1_000;
const PRUNE_MS = 6 * 3_600_000;
const DAY_MS = 86_400_000;
// A failed restore is tried again after this long, doubling up to reconcile_interval.
const RESTORE_RETRY_MS = 1_000;

export type ReconcileOutcome = "intact" | "restored" | "repaired" | "failed";

/** What the daemon around the loop is told and asked. */
export interface ReconcileHooks {
  /** The host's table is this daemon's, or this throws naming whose it is. */
  claimTable(): Promise<void>;
  /** Each check's outcome (the metrics of [http]). */
  reconciled(outcome: ReconcileOutcome, detail?: string): void;
  /** The fleet's catch-up: the start scan waits for one under way. */
  catchUp?: { readonly catchingUp: boolean; caughtUp(): Promise<void> };
}

/**
 * When the daemon's reconciler runs: the restore at start and its retries with
 * backoff, the periodic check, the scans (at start, after a catch-up, on
 * SIGHUP, when the kernel's report sets overflow), expiry and pruning.
 */
export class ReconcileLoop {
  /** Set until every stored ban is in the firewall: at start, and after a failed restore. */
  private needsRestore = true;
  private readonly restoreRetry: Backoff;
  /** Bans the start's restore put back, for the "ready" line. */
  restoredAtStart = 0;
  private stopping = false;
  private reconciling: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private scanTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly log: Logger,
    /** The config in force (a reload changes reconcile_interval and history_days). */
    private readonly config: () => Config,
    private readonly hooks: ReconcileHooks,
  ) {
    this.restoreRetry = new Backoff(RESTORE_RETRY_MS, config().reconcile_interval);
  }

  /** The ban sets were emptied (new ban lengths): every stored ban goes back at the next reconcile. */
  restoreNeeded(): void {
    this.needsRestore = true;
  }

  /** The reconcile in flight, if any: a firewall swapped meanwhile is closed after it. */
  idle(): Promise<void> {
    return this.reconciling ?? Promise.resolve();
  }

  /**
   * The start: the restore, the start scan a moment later, then the periodic
   * jobs. The kernel's bans made while we were down are adopted, stale ones
   * removed and timeouts fixed by that scan, without holding anything up.
   */
  async start(jobs: Jobs): Promise<void> {
    const { firewall, reconciler, queue } = this.pipeline;
    if (!firewall.can.kernelBans) {
      // PF: what the table holds that the store does not (its overload rule's bans) is
      // adopted before the restore makes the table match the store.
      await reconciler.scan().catch((e: Error) => this.log.warn(`scanning the firewall at start: ${e.message}`));
      await queue.drain(10_000);
    }
    await this.reconcile("start").catch((e: Error) => this.log.warn(`reconcile at start: ${e.message}`));
    // A moment later: a set just loaded may still be resizing, and the kernel's
    // listing of a hash set that resizes can skip elements (seen here at 100,000).
    if (firewall.can.kernelBans) {
      // After a catch-up from the fleet's snapshot under way by then: it loads the
      // firewall from the store (stored first, then loaded), so a listing meanwhile
      // finds nothing to fix and slows it down (a second of CPU at a million).
      this.scanTimer = setTimeout(() => void this.scanAfterCatchUp(), START_SCAN_DELAY_MS);
      this.scanTimer.unref();
    }
    jobs.every(EXPIRY_MS, () => expireBans(this.pipeline.store, this.pipeline.queue.applier), "expiring bans");
    jobs.every(this.config().reconcile_interval, () => this.reconcile("timer"), "checking the firewall");
    jobs.every(PRUNE_MS, () => this.prune(), "pruning the store");
    void this.prune().catch((e: Error) => this.log.warn(`pruning the store: ${e.message}`));
  }

  /** SIGHUP: the firewall checked (and repaired), then what the kernel banned or lost meanwhile. */
  async afterReload(): Promise<void> {
    await this.reconcile("SIGHUP");
    // Compared without holding anything up.
    if (this.pipeline.firewall.can.kernelBans) this.scanInBackground("SIGHUP");
  }

  /** The start scan, after a catch-up under way and the same delay again (the set it loaded may be resizing). */
  private async scanAfterCatchUp(): Promise<void> {
    await testHold("start-scan", () => this.stopping);
    const catchUp = this.hooks.catchUp;
    if (!catchUp) return this.scanInBackground("start");
    // Said: an admin waiting for the scan's line sees why it comes late.
    if (catchUp.catchingUp) this.log.info("the firewall scan at start waits for the catch-up from the fleet's snapshot under way");
    await catchUp.caughtUp();
    this.scanTimer = setTimeout(() => this.scanInBackground("start"), START_SCAN_DELAY_MS);
    this.scanTimer.unref();
  }

  /** Compare the firewall with the store without holding up anything else (one at a time). */
  scanInBackground(why: string): void {
    if (this.scanning || this.stopping) return;
    const started = Date.now();
    this.scanning = this.pipeline.reconciler
      .scan()
      .then((r) => {
        this.log.info(
          `scanned the firewall (${why}): ${r.held} element(s) in ${((Date.now() - started) / 1000).toFixed(1)} s, ${r.adopted} adopted, ${r.removed} removed, ${r.retimed} re-timed`,
        );
      })
      .catch((e: Error) => this.log.warn(`scanning the firewall (${why}): ${e.message}`))
      .finally(() => (this.scanning = undefined));
  }

  /**
   * Make the firewall hold every stored ban. Cheap when nothing is wrong: the
   * backend's check, no listing. One at a time: a timer tick or a SIGHUP while
   * one runs joins it.
   */
  private reconcile(why: string): Promise<void> {
    this.reconciling ??= this.reconcileOnce(why).finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async reconcileOnce(why: string): Promise<void> {
    const fw = this.pipeline.firewall;
    let integrity: Awaited<ReturnType<typeof fw.check>> | undefined;
    const started = Date.now();
    try {
      integrity = await fw.check(() => this.pipeline.store.countActive());
      if (integrity === "intact" && !this.needsRestore) {
        this.hooks.reconciled("intact");
        if (why !== "timer") this.log.info(`checked the firewall (${why}): in place, nothing to repair`);
        return;
      }
      this.needsRestore = true;
      if (integrity === "missing") {
        // The table went away with its owner mark: marked again, or this daemon learns whose it is now.
        await this.hooks.claimTable();
        await this.pipeline.queue.serial(() => fw.setup());
      }
      const restored = await this.pipeline.reconciler.restore();
      this.needsRestore = false;
      this.restoreRetry.reset();
      clearTimeout(this.retryTimer);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      this.hooks.reconciled(why === "start" ? "restored" : "repaired", `${restored} ban(s) put back (${why})`);
      if (why === "start") this.restoredAtStart = restored;
      if (why === "start") this.log.info(`restored ${restored} ban(s) into the ${fw.name} firewall in ${took} s`);
      else this.log.info(`repaired the firewall (${why}): ${integrity === "missing" ? "rules and sets recreated, " : ""}${restored} ban(s) put back in ${took} s`);
    } catch (e) {
      // Tried again with backoff until one succeeds: one retry timer, never a pile of them.
      this.needsRestore = true;
      this.hooks.reconciled("failed", (e as Error).message);
      this.restoreRetry.limit(this.config().reconcile_interval);
      const delay = this.restoreRetry.next();
      this.log.error(`could not ${integrity === undefined ? "check" : "restore the bans into"} the firewall (${why}), retrying in ${delay} ms: ${(e as Error).message}`);
      clearTimeout(this.retryTimer);
      if (this.stopping) return;
      this.retryTimer = setTimeout(() => void this.reconcile("retry"), delay);
      this.retryTimer.unref();
    }
  }

  /** In chunks, yielding between, so a large backlog never stalls the daemon. */
  private async prune(): Promise<void> {
    const days = this.config().history_days;
    const before = Date.now() - days * DAY_MS;
    let events = 0;
    let bans = 0;
    for (;;) {
      const r = this.pipeline.store.prune(before);
      events += r.events;
      bans += r.bans;
      if (r.events === 0 && r.bans === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (events || bans) this.log.info(`pruned ${events} event(s) and ${bans} ended ban(s) older than ${days} days`);
  }

  /** No new retry or scan; resolves once the reconcile and scan in flight have ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.scanTimer);
    await this.reconciling;
    await this.scanning;
  }
}
