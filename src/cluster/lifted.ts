import { prefixKey, type Prefix } from "../net/address.js";

/** An unban heard from the fleet's stream: the origin lifted its ban of `prefix` at `seq`. */
export interface LiftedBan {
  /** As prefixKey() writes it. */
  prefix: string;
  origin: string;
  seq: number;
  /** When this host heard it (its own clock: the signed time is the sender's to choose). */
  heardAt: number;
}

// Unbans remembered: far more than a fleet lifts in the life of its bans; past
// this the first heard are forgotten (a copy of a ban they lifted is then taken).
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
  /** In the order heard (a Map keeps it): the first is the one to forget. */
  private readonly seqs = new Map<string, number>();
  private unwritten: LiftedBan[] = [];

  /** `kept`: as the store gives them, first heard first. */
  constructor(kept: Iterable<LiftedBan>) {
    for (const l of kept) this.seqs.set(keyOf(l.prefix, l.origin), l.seq);
  }

  heard(l: LiftedBan): void {
    const key = keyOf(l.prefix, l.origin);
    if ((this.seqs.get(key) ?? -1) >= l.seq) return;
    this.seqs.delete(key);
    this.seqs.set(key, l.seq);
    if (this.seqs.size > MAX_LIFTED) this.seqs.delete(this.seqs.keys().next().value as string);
    this.unwritten.push(l);
  }

  /** The sequence of the unban that lifted `origin`'s ban of `prefix` after `seq`, or undefined. */
  liftedAfter(prefix: Prefix, origin: string, seq: number): number | undefined {
    if (this.seqs.size === 0) return undefined;
    const lifted = this.seqs.get(keyOf(prefixKey(prefix), origin));
    return lifted !== undefined && lifted > seq ? lifted : undefined;
  }

  /** What was heard and is not yet in the store. */
  fresh(): readonly LiftedBan[] {
    return this.unwritten;
  }

  /** The first `n` of fresh() are in the store now. */
  written(n: number): void {
    this.unwritten = this.unwritten.slice(n);
  }
}
