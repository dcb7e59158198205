import { timeoutLeft, type FirewallBan, type HeldBan } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import { prefixKey, type Prefix } from "../net/address.js";
import { storedPrefix, type Store } from "../store/store.js";
import { ADOPTED } from "./rules.js";
import type { BanQueue } from "./queue.js";
import { testHold } from "../test-hold.js";

// Rows read from the store at once while restoring: a few milliseconds of SQLite each.
const RESTORE_PAGE = 2_000;
// An element ending within this of an expired stored ban is that ban's own.
const SAME_BAN_SLACK_MS = 60_000;
// A held ban whose timeout ends this much sooner than the store's is put back with the right one.
const RETIME_SLACK_SEC = 60;

export interface ScanResult {
  held: number;
  adopted: number;
  removed: number;
  retimed: number;
}

/**
 * Keeps the firewall in line with the store, the source of truth, without
 * ever holding either whole in memory: `restore` streams the store's bans
 * into the firewall a page at a time; `scan` streams the firewall's elements
 * and compares each with the store (adopting the kernel's own bans, removing
 * what has ended, fixing timeouts).
 */
export class Reconciler {
  /** Prefixes taken out of the firewall while a restore runs: put back by nothing. */
  private removedDuringRestore: Map<string, Prefix> | undefined;
  /** Progress of the restore in flight, for `iblock stats` while starting. */
  progress: { restored: number; total: number } | undefined;

  constructor(
    private readonly store: Store,
    private readonly queue: BanQueue,
    private readonly log: Logger,
    /**
     * Read and record the firewall's own reports (the kernel route's) before an
     * element is taken for unknown: a ban the kernel just made is reported with
     * its port, and must be recorded that way, not adopted without one.
     */
    private readonly settleReports: () => Promise<void> = () => Promise.resolve(),
    /** The allow list covers it: never adopted, whatever the firewall holds. */
    private readonly allowed: (p: Prefix) => boolean = () => false,
  ) {
    queue.applier.onRemoved((p) => this.removedDuringRestore?.set(prefixKey(p), p));
  }

  private async *pages(): AsyncGenerator<readonly FirewallBan[]> {
    for (const rows of this.store.restorePages(RESTORE_PAGE)) {
      const now = Date.now();
      yield rows.map((r) => ({ prefix: storedPrefix(r.prefix), timeoutSec: timeoutLeft(r.expires_at, now) }));
      if (this.progress) this.progress.restored += rows.length;
      // Let trap hits, the control socket and the kernel drain in between pages.
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Every ban of the store into the firewall. Where the firewall only adds
   * (nftables), not behind the applier's serial chain: the restore goes as
   * its own `nft -f` transactions beside the session that bans trap hits, so
   * a hit during a restore of a million does not wait for it.
   */
  async restore(): Promise<number> {
    const removed = new Map<string, Prefix>();
    this.removedDuringRestore = removed;
    this.progress = { restored: 0, total: this.store.countActive() };
    const fw = this.queue.firewall;
    try {
      await testHold("restore");
      // A restore that replaces the whole table (PF) must not race the adds of
      // new bans: behind the serial chain. One that only adds (nftables) runs
      // beside it, so trap hits never wait for a restore of a million.
      return fw.can.restoreReplaces ? await this.queue.serial(() => fw.restore(() => this.pages())) : await fw.restore(() => this.pages());
    } finally {
      this.removedDuringRestore = undefined;
      this.progress = undefined;
      // Ended while a page of it was in flight: the page may have put it back, whether
      // the restore then finished or failed. One that expired, where elements expire by
      // themselves, is left alone: the kernel may have banned its scanner again since.
      // Through the applier: it never throws (a failure here must not hide the restore's own),
      // retries what fails, and asks again at the firewall's turn (one banned anew meanwhile stays).
      const undo = [...removed.values()].filter((p) => !(fw.can.expiresItself && this.store.lastBan(p)?.end_kind === "expired"));
      if (undo.length) await this.queue.applier.remove(undo, "removing bans ended during the restore", (p) => !this.store.openBan(p));
    }
  }

  /**
   * Compare what the firewall holds with the store, a batch at a time. An
   * element the store does not have in force is adopted when the kernel made
   * it (its own ban of a scanner, or one after the stored ban expired) and
   * removed when the store ended it; one whose timeout falls short of the
   * store's is put back with the store's.
   */
  async scan(): Promise<ScanResult> {
    const fw = this.queue.firewall;
    const r: ScanResult = { held: 0, adopted: 0, removed: 0, retimed: 0 };
    await fw.scan(async (held: readonly HeldBan[]) => {
      const now = Date.now();
      const stale: Prefix[] = [];
      const retime: FirewallBan[] = [];
      // Looked up once; all again once the reports are in (an unban may have run meanwhile).
      let rows = held.map((h) => this.store.openBan(h.prefix, now));
      if (rows.includes(undefined)) {
        await this.settleReports();
        rows = held.map((h) => this.store.openBan(h.prefix, now));
      }
      for (const [i, h] of held.entries()) {
        const row = rows[i];
        if (row) {
          const want = timeoutLeft(row.expires_at, now);
          if (fw.can.expiresItself && want !== undefined && (h.expiresSec === undefined || h.expiresSec < want - RETIME_SLACK_SEC)) {
            retime.push({ prefix: h.prefix, timeoutSec: want });
          }
          continue;
        }
        const last = this.store.lastBan(h.prefix);
        // The stored ban's own element, listed before it ran out (a listing of a
        // million takes ~40 s): it goes by itself; neither adopted nor stale.
        const sameBan =
          last?.end_kind === "expired" &&
          last.expires_at !== null &&
          h.expiresSec !== undefined &&
          now + h.expiresSec * 1000 <= last.expires_at + SAME_BAN_SLACK_MS;
        if (sameBan) continue;
        // Only what the firewall makes by itself is adopted (an interval element,
        // a wide prefix, is a ban nobody recorded: a feed's or a peer's of another
        // store). Where the kernel bans by itself, an element after the stored ban
        // expired is a returning scanner.
        if (!h.ownMade || this.allowed(h.prefix) || (last && !(fw.can.kernelBans && last.end_kind === "expired"))) stale.push(h.prefix);
        else {
          // For no longer than the element has left: a short SYN ban stays short. An
          // element with no timeout is permanent only where the firewall expires its
          // elements by itself (nftables); PF's never do, and there the rules decide.
          const durationMs = h.expiresSec !== undefined ? h.expiresSec * 1000 : fw.can.expiresItself ? Infinity : undefined;
          this.queue.submit({ prefix: h.prefix, source: ADOPTED, ...(durationMs === undefined ? {} : { durationMs }) }, 0);
          r.adopted++;
        }
      }
      r.held += held.length;
      if (stale.length) await this.queue.serial(() => fw.remove(stale));
      if (retime.length) await this.queue.serial(() => fw.add(retime));
      r.removed += stale.length;
      r.retimed += retime.length;
    });
    if (r.adopted) this.log.info(`adopted ${r.adopted} ban(s) found in the firewall`);
    return r;
  }
}
