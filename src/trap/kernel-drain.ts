import type { HitJoiner } from "../bans/hit-join.js";
import type { Firewall, KernelHit } from "../firewall/firewall.js";
import { REPORT_SET_SIZE } from "../firewall/nft-ruleset.js";
import type { Logger } from "../log.js";
import type { Policy } from "../policy/policy.js";
import { Serial } from "../util/serial.js";

/**
 * How often the report sets are read: every 100 ms while the kernel has
 * reported a hit within the last minute (a daemon starts so), every second
 * after a quiet minute. Read every 100 ms, an idle host spent 2.4% of a core
 * more than read every second (each read costs the daemon and nft about
 * 2.7 ms of CPU); the kernel has dropped the scanner already, only the
 * store and the fleet learn of the first hit after a quiet minute later.
 */
export const DRAIN_BUSY_MS = 100;
export const DRAIN_QUIET_MS = 1_000;
const QUIET_AFTER_MS = 60_000;

/** What the drain reads from and tells, each read now (a reload swaps the firewall). */
export interface KernelDrainParts {
  firewall(): Firewall;
  /** kernel_route is on and the firewall can ban by itself. */
  kernelRoute(): boolean;
  policy: Policy;
  hits: HitJoiner;
  log: Logger;
  /** Each read of the report sets (the metrics of [http]). */
  drained?(hits: number, capacity: number, overflowed: boolean): void;
  /** A report set filled: the ban sets are scanned for the kernel's bans it could not report. */
  overflowed(): void;
}

/**
 * The kernel route's reports: the hits the kernel banned by itself, read from
 * its report sets and counted as hits, joined with the listener's.
 */
export class KernelDrain {
  /** One drain at a time: two would read the same reports before either deletes them. */
  private readonly drains = new Serial();
  /** When the kernel last reported a hit; the start counts as one. */
  private lastHitAt: number;

  constructor(
    private readonly parts: KernelDrainParts,
    private readonly now: () => number = Date.now,
  ) {
    this.lastHitAt = now();
  }

  drain(): Promise<void> {
    return this.drains.run(() => this.drainOnce());
  }

  /** How long until the next periodic drain (see DRAIN_BUSY_MS). */
  intervalMs(): number {
    return this.now() - this.lastHitAt < QUIET_AFTER_MS ? DRAIN_BUSY_MS : DRAIN_QUIET_MS;
  }

  /** Resolves once the drain in flight (if any) has ended. */
  idle(): Promise<void> {
    return this.drains.idle();
  }

  private async drainOnce(): Promise<void> {
    const { hits, log } = this.parts;
    if (!this.parts.kernelRoute()) {
      hits.tick(); // held hits of before a reload that turned the kernel route off
      return;
    }
    const firewall = this.parts.firewall();
    const report = await firewall.drainKernelHits?.();
    if (!report) return;
    this.parts.drained?.(report.hits.length, REPORT_SET_SIZE, report.overflowed);
    this.count(report.hits);
    if (report.overflowed) {
      // A report set filled: drain again at once, and scan the ban sets for
      // the kernel's bans it could not report (they are adopted).
      log.warn(`the kernel route's report sets filled (${report.hits.length} hits at once); scanning the ban sets for the rest`);
      const again = await firewall.drainKernelHits?.();
      if (again) this.count(again.hits);
      this.parts.overflowed();
    }
  }

  private count(reported: readonly KernelHit[]): void {
    if (reported.length) this.lastHitAt = this.now();
    for (const hit of reported) {
      const prefix = this.parts.policy.forHit(hit.prefix);
      if (prefix) this.parts.hits.kernelHit(prefix, hit.port, hit.syn);
    }
    this.parts.hits.tick();
  }
}
