import type { Logger } from "../log.js";
import { formatPrefix, prefixKey, widen, type Prefix } from "../net/address.js";
import { rowPrefix, type BanRow, type Store } from "../store/store.js";
import type { FirewallApplier, Unapplied } from "./firewall-applier.js";
import { canNest, needsOwnBan, nestable } from "./nesting.js";
import type { BanRequest } from "./ban-request.js";
import type { BanRules } from "./rules.js";

/** How many bans inside one network make a ban of the network (config aggregate_ipv4/_ipv6). */
export interface Aggregation {
  ipv4?: number;
  ipv6?: number;
}

/** The networks aggregation bans: a /24 of IPv4 addresses, a /48 of IPv6 /64s. */
const AGGREGATE_TO = { 4: 24, 6: 48 } as const;

export const aggregationFor = (c: { aggregate_ipv4?: number; aggregate_ipv6?: number }): Aggregation => ({
  ipv4: c.aggregate_ipv4,
  ipv6: c.aggregate_ipv6,
});

// How wide a ban goes when the ban set is full: into the interval sets, which have no size limit.
const FULL_WIDEN = { 4: 24, 6: 48 } as const;

/** What widening needs of the queue: its rules in force, and the way in for the wider bans it makes. */
export interface WideningHooks {
  rules(): BanRules;
  aggregation(): Aggregation;
  submit(req: BanRequest): void;
  /** A ban's waiters are done with (it went wider instead). */
  settle(key: string): void;
}

/**
 * Bans that make other bans wider or end them: a full ban set widens to a
 * /24 (/48), enough bans inside a network ban the network, and a new wide
 * ban ends the narrower ones inside it.
 */
export class Widening {
  private warnedFull = false;

  constructor(
    private readonly store: Store,
    private readonly applier: FirewallApplier,
    private readonly log: Logger,
    private readonly queue: WideningHooks,
  ) {}

  get rules(): BanRules {
    return this.queue.rules();
  }

  /**
   * The keyed ban set holds max_bans elements: say so once, keep each ban
   * narrower than a /24 (/48) in the store as history, and ban its /24 (/48)
   * in the interval set, which has no limit. Returns the entries that cannot
   * go wider.
   */
  setFull(entries: readonly Unapplied[]): Unapplied[] {
    const widens = (x: Unapplied): boolean => {
      const p = rowPrefix(x.row);
      return nestable(p, this.rules.lengths) && p.length > FULL_WIDEN[p.family];
    };
    for (const x of entries.filter(widens)) this.banWider(x);
    return entries.filter((x) => !widens(x));
  }

  private banWider(entry: Unapplied): void {
    const p = rowPrefix(entry.row);
    if (!this.warnedFull) {
      this.warnedFull = true;
      this.log.error(`the ban set is full (max_bans); recording every ban and banning whole /${FULL_WIDEN[4]} (IPv4) and /${FULL_WIDEN[6]} (IPv6) networks instead; raise max_bans`);
    }
    this.applier.forget(entry.row.prefix);
    this.queue.settle(entry.row.prefix);
    const wide = widen(p, FULL_WIDEN[p.family]);
    // Ended at once, as history: it never reached the firewall, so the wide ban
    // has nothing to take out for it (a delete of a missing element is an error to nft).
    const reason = `covered by ${formatPrefix(wide)} (ban set full)`;
    if (this.store.endBan(p, { kind: "covered", reason })) this.applier.ended(p, { kind: "covered", reason }, false);
    this.queue.submit({ prefix: wide, source: "aggregate", reason: "ban set full" });
  }

  /**
   * `aggregate_ipv4` / `aggregate_ipv6`: enough bans inside one /24 (IPv4)
   * or one /48 (IPv6) make a ban of the whole network.
   */
  aggregate(created: readonly BanRow[]): void {
    const nets = new Map<string, Prefix>();
    for (const row of created) {
      const p = rowPrefix(row);
      const wide = AGGREGATE_TO[p.family];
      if (this.queue.aggregation()[p.family === 4 ? "ipv4" : "ipv6"] && p.length > wide) {
        const net = widen(p, wide);
        nets.set(prefixKey(net), net);
      }
    }
    for (const net of nets.values()) {
      const n = this.queue.aggregation()[net.family === 4 ? "ipv4" : "ipv6"] ?? Infinity;
      const members = this.store.activeWithin(net);
      if (members.length >= n && !this.store.isBanned(net)) {
        this.queue.submit({ prefix: net, source: "aggregate", reason: `${members.length} bans inside this /${net.length}` });
      }
    }
  }

  /**
   * A new wide ban makes the narrower ones inside it history: ended, and out
   * of the firewall. Those that outlive it and can sit inside it stay.
   * `onlyClashing`: end only what the firewall cannot hold beside the wide ban
   * (an import keeps the trap bans inside it: they outlive a feed's entry).
   */
  async endCovered(wideRow: BanRow, onlyClashing = false): Promise<void> {
    const wide = rowPrefix(wideRow);
    if (wide.length === (wide.family === 4 ? 32 : 128)) return;
    const ends = (r: BanRow): boolean =>
      onlyClashing ? !canNest(rowPrefix(r), [wide], this.rules.lengths) : !needsOwnBan(rowPrefix(r), r.expires_at, [wide], wideRow.expires_at, this.rules.lengths);
    const inside = this.store.activeWithin(wide).filter((r) => r.prefix !== wideRow.prefix && ends(r));
    if (inside.length === 0) return;
    const reason = `covered by ${formatPrefix(wide)}`;
    for (const r of inside) {
      if (this.store.endBan(rowPrefix(r), { kind: "covered", reason })) this.applier.ended(rowPrefix(r), { kind: "covered", reason }, false);
      this.applier.forget(r.prefix);
    }
    await this.applier.remove(inside.map(rowPrefix), `removing bans covered by ${formatPrefix(wide)}`);
  }
}
