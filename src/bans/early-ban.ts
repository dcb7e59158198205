import { timeoutLeft } from "../firewall/firewall.js";
import { formatPrefix, prefixKey, type Prefix } from "../net/address.js";
import type { BanRow, HitGroup, Store } from "../store/store.js";
import type { FirewallApplier } from "./firewall-applier.js";
import type { BanRequest } from "./ban-request.js";
import { plannedExpiry, type BanRules } from "./rules.js";

interface Placement {
  prefix: Prefix;
  /** The expiry the firewall was given (null: none). */
  expiresAt: number | null;
  /** The firewall took it. */
  done: boolean;
}

/**
 * The listener route's first ban of a source (kernel_route = false, PF's only
 * route): on an idle firewall it goes in before the store records it, so the
 * store's transaction is not between a trap hit and its ban. The hit is
 * recorded by the next flush as any other (source, port, log line); the
 * applier does not put it in the firewall again when the store gave it this
 * expiry.
 *
 * Only where a crash between the two loses nothing: the start scan adopts an
 * element the firewall could have made by itself (`ownMade`) of a prefix the
 * store never banned (reconciler.scan). A prefix banned before, inside a
 * wider ban, or under a threshold goes the usual way, store first.
 */
export class EarlyBans {
  /** By prefix key; one per flush at most, while the firewall was idle. */
  private readonly placed = new Map<string, Placement>();
  /** The last early ban's firewall call, settled. */
  private placing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly applier: FirewallApplier,
  ) {}

  /**
   * A source's first hit: on an idle firewall, put its ban in now. One call in
   * the firewall's one order, so an unban given after it goes after it.
   */
  place(key: string, req: BanRequest, at: number, rules: BanRules, storeDown: boolean): void {
    if (this.applier.busy || this.applier.isClosed || storeDown) return;
    const placement = this.plan(req, at, rules);
    if (!placement) return;
    this.placed.set(key, placement);
    const fw = this.applier.firewall;
    this.placing = this.applier
      .serial(async () => {
        await fw.add([{ prefix: placement.prefix, timeoutSec: timeoutLeft(placement.expiresAt), fresh: true }]);
        if (this.placed.get(key) === placement) placement.done = true; // not when forgotten meanwhile
      })
      .catch(() => undefined); // refused: the flush puts it in the usual way, and says why if it fails again
  }

  /** The placement to make for this hit now, or undefined: it goes the usual way. */
  private plan(req: BanRequest, at: number, rules: BanRules): Placement | undefined {
    if (req.route !== "listener" || req.durationMs !== undefined || rules.threshold !== 1) return undefined;
    if (this.applier.firewall.ownMade?.(req.prefix) !== true) return undefined;
    try {
      if (this.store.lastBan(req.prefix) || this.store.coveringBan(req.prefix, at)) return undefined;
    } catch {
      return undefined; // a store that cannot be read decides nothing here: the usual way says why
    }
    // The store's first offence, as it will plan it.
    return { prefix: req.prefix, expiresAt: plannedExpiry({ source: req.source, at }, 1, rules), done: false };
  }

  /**
   * Settles when the last early ban's firewall call has. The store's
   * transaction waits for it: on a busy host the two at once make the ban
   * later (they share the CPUs with nft).
   */
  settled(): Promise<void> {
    return this.placing;
  }

  /** The firewall holds `row`'s ban with the expiry the store gave it: nothing to add. */
  holds(row: BanRow): boolean {
    const p = this.placed.get(row.prefix);
    return p !== undefined && p.done && p.expiresAt === row.expires_at;
  }

  /**
   * The store recorded `groups` and made bans of `created`. One placed early
   * that got no ban row (a wider ban or a new threshold came meanwhile) comes
   * out again, unless the store has the prefix banned after all.
   */
  async recorded(groups: readonly HitGroup[], created: readonly BanRow[]): Promise<void> {
    if (this.placed.size === 0) return;
    const made = new Set(created.map((r) => r.prefix));
    for (const g of groups) {
      const key = prefixKey(g.prefix);
      if (!this.placed.has(key) || made.has(key)) continue;
      this.placed.delete(key);
      if (!this.store.isBanned(g.prefix)) await this.applier.remove([g.prefix], `removing ${formatPrefix(g.prefix)}`);
    }
  }

  /** These groups are recorded and applied (or queued for retries), or banned by the outage path: done with. */
  forgetAll(groups: readonly HitGroup[]): void {
    if (this.placed.size === 0) return;
    for (const g of groups) this.placed.delete(prefixKey(g.prefix));
  }

  /** Unbanned: its removal comes after the early add in the firewall's order. */
  forget(key: string): void {
    this.placed.delete(key);
  }
}
