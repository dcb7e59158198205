import { prefixKey, type Prefix } from "../policy/address.js";

/** An unban heard from the fleet's stream: the origin lifted its ban of `prefix` at `seq`. */
export interface LiftedBan {
  /** As prefixKey() writes it. */
  prefix: string;
  origin: string;
  seq: number;
  at: number;
}

// Unbans remembered: far more than a fleet lifts in the life of its bans; past
// this the oldest are forgotten (a copy of a ban they lifted is then taken).
export const MAX_LIFTED = 1_000_000;

const keyOf = (prefix: string, origin: string): string => `${prefix} ${origin}`;

/**
 * The unbans this host has heard, per prefix and origin, so a copy of a ban
 * an unban lifted (put back into the snapshot, where no sequence mark can
 * tell it from a ban still in force) is refused in a catch-up. Held in
 * memory for the catch-up's million lookups; what is new is written with
 * the stream position (ClusterStore.keep).
 */
export class LiftedBans {
  private readonly seqs = new Map<string, number>();
  private fresh: LiftedBan[] = [];

  constructor(kept: Iterable<LiftedBan>) {
    for (const l of kept) this.seqs.set(keyOf(l.prefix, l.origin), l.seq);
  }

  heard(l: LiftedBan): void {
    const key = keyOf(l.prefix, l.origin);
    if ((this.seqs.get(key) ?? -1) >= l.seq) return;
    this.seqs.set(key, l.seq);
    this.fresh.push(l);
  }

  /** The sequence of the unban that lifted `origin`'s ban of `prefix` after `seq`, or undefined. */
  liftedAfter(prefix: Prefix, origin: string, seq: number): number | undefined {
    if (this.seqs.size === 0) return undefined;
    const lifted = this.seqs.get(keyOf(prefixKey(prefix), origin));
    return lifted !== undefined && lifted > seq ? lifted : undefined;
  }

  /** What was heard since the last call: to be written. */
  takeFresh(): LiftedBan[] {
    const out = this.fresh;
    this.fresh = [];
    return out;
  }
}
