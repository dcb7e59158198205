import type { HitJoiner } from "../bans/hit-join.js";
import type { Firewall, KernelHit } from "../firewall/firewall.js";
import { REPORT_SET_SIZE } from "../firewall/nft-ruleset.js";
import type { Logger } from "../log.js";
import type { Policy } from "../policy/policy.js";
import { Serial } from "../util/serial.js";

/**
 * A drain asked for by soon() waits until this long after the last one
 * ended: in a storm, the hits of that time are read together, as often as
 * the periodic drain read them before it waited for a listener's word.
 */
const BUSY_GAP_MS = 100;

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
  private lastEnded = 0;
  private soonTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly parts: KernelDrainParts) {}

  drain(): Promise<void> {
    return this.drains.run(() => this.drainOnce().finally(() => (this.lastEnded = Date.now())));
  }

  /**
   * A listener hit waits for the kernel's report of it (its trap port, behind
   * a redirect): read the report sets now, or BUSY_GAP_MS after the last read,
   * rather than at the next periodic round, which can be slow because an idle
   * host should not spend its CPU asking nft for nothing.
   */
  soon(): void {
    if (this.soonTimer || this.stopped) return;
    this.soonTimer = setTimeout(
      () => {
        this.soonTimer = undefined;
        // A failure is the periodic round's to say: it runs within a second and meets the same.
        this.drain().catch(() => undefined);
      },
      Math.max(0, this.lastEnded + BUSY_GAP_MS - Date.now()),
    );
  }

  /** No more drains asked for by soon(); resolves once the one in flight (if any) has ended. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    return this.idle();
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
    for (const hit of reported) {
      const prefix = this.parts.policy.forHit(hit.prefix);
      if (prefix) this.parts.hits.kernelHit(prefix, hit.port, hit.syn);
    }
    this.parts.hits.tick();
  }
}
