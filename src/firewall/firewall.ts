import type { Prefix } from "../net/address.js";
import type { TableOwner } from "./nft-owner.js";

/** A ban as the firewall needs it. `timeoutSec` undefined means permanent. */
export interface FirewallBan {
  readonly prefix: Prefix;
  readonly timeoutSec?: number;
  /**
   * Not in the firewall as far as iblock knows (a first ban): a plain add, half
   * the work of a replace; an element there already keeps its timeout (a scan re-times it).
   */
  readonly fresh?: boolean;
}

/** The time a stored ban has left, as a firewall timeout: whole seconds, at least 1; undefined when it never ends. */
export const timeoutLeft = (expiresAt: number | null, now = Date.now()): number | undefined =>
  expiresAt === null ? undefined : Math.max(1, Math.ceil((expiresAt - now) / 1000));

/**
 * The firewall holds as many bans as it may (nftables' keyed set at max_bans):
 * the ban must go wider, into a set with no limit. Thrown by a backend, so
 * the callers choose by type, never by the firewall's text.
 */
export class SetFullError extends Error {
  override readonly name = "SetFullError";
}

/** A ban the firewall holds, as a scan reports it. `expiresSec` undefined: no timeout (or not known). */
export interface HeldBan {
  readonly prefix: Prefix;
  readonly expiresSec?: number;
  /**
   * The firewall could have made it by itself on a proven source: an element
   * of the kernel route's keyed sets, a single address PF's overload rule
   * added. Only such an element, unknown to the store, is adopted.
   */
  readonly ownMade: boolean;
}

/** A trap hit the firewall saw by itself (the nftables kernel route). */
export interface KernelHit {
  readonly prefix: Prefix;
  readonly port: number;
  /** Banned on a bare SYN (catch_syn_scans), not a completed handshake. */
  readonly syn: boolean;
}

export interface KernelReport {
  hits: KernelHit[];
  /** A report set was near its size: some hits may be missing; a scan adopts them. */
  overflowed: boolean;
}

/** What a backend can do, declared rather than guessed from which methods exist. */
export interface FirewallCapabilities {
  /** It bans trap hits by itself and reports them (`drainKernelHits`): nftables' kernel route. */
  readonly kernelBans: boolean;
  /** Its elements expire by themselves; otherwise the daemon removes expired bans. */
  readonly expiresItself: boolean;
  /** `restore` replaces everything the table holds (PF's `-T replace`), not only adds. */
  readonly restoreReplaces: boolean;
}

/** The cheap drift check's answer. "cannot check" is an exception, never one of these. */
export type Integrity = "intact" | "missing";

/**
 * What iblock needs of a packet filter. Each backend owns its table and
 * nothing else. Every cost here must not grow with the number of bans the
 * firewall already holds (a million is a normal day).
 */
export interface Firewall {
  readonly name: string;
  readonly can: FirewallCapabilities;
  /**
   * Idempotent: create what the backend owns, keep existing bans, touch nothing
   * else. `emptyBanSets`: the ban lengths changed (ipv4_prefix, ipv6_prefix),
   * so what a keyed set holds means something else now: empty the ban sets in
   * the same step, and a restore puts each stored ban where its length belongs.
   */
  setup(opts?: { emptyBanSets?: boolean }): Promise<void>;
  /** Add or replace (a repeat offender's longer ban replaces the kernel route's). */
  add(bans: readonly FirewallBan[]): Promise<void>;
  remove(prefixes: readonly Prefix[]): Promise<void>;
  /**
   * Put every ban of the store back (start, a flushed set), read a page at a
   * time from `pages()` (which a backend may call again to read them twice).
   * Bans already held may keep their timeout; nothing is listed.
   */
  restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number>;
  /**
   * A cheap check that everything the backend owns is in place and, where it
   * can only count, holds at least `expected()` bans (asked only then: a count
   * of a million takes the store ~90 ms); throws when it cannot tell.
   */
  check(expected: () => number): Promise<Integrity>;
  /** Everything the firewall holds, streamed in pieces: never one listing in memory. */
  scan(each: (held: readonly HeldBan[]) => Promise<void>): Promise<void>;
  killStates(prefixes: readonly Prefix[]): Promise<void>;
  /**
   * The trap ports are now these (a service took one, or left one long
   * enough ago). Where the trap ports live outside iblock (pf.conf's rdr-to,
   * inetd), there is nothing to change.
   */
  setTrapPorts(ports: readonly number[]): Promise<void>;
  /**
   * iblock stops being used here (`iblock teardown`): take away what the
   * backend put in the firewall, every ban with it, never what another
   * running iblock holds; `me` is the state dir asking. Says what it did, in
   * a line for the admin.
   */
  uninstall(me: TableOwner): Promise<string>;
  /**
   * A scan would list this ban as one the firewall could have made by itself
   * (`HeldBan.ownMade`): put in before the store records it, a crash between
   * loses nothing (the start scan adopts it). Absent: never.
   */
  ownMade?(prefix: Prefix): boolean;
  /** Hits the firewall banned by itself since the last call (only when `can.kernelBans`). */
  drainKernelHits?(): Promise<KernelReport>;
  /** Stop background helpers. */
  close?(): Promise<void>;
}
