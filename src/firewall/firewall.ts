import type { Prefix } from "../policy/address.js";

/** A ban as the firewall needs it. `timeoutSec` undefined means permanent. */
export interface FirewallBan {
  readonly prefix: Prefix;
  readonly timeoutSec?: number;
}

/** A trap hit the firewall saw by itself (the nftables kernel route). */
export interface KernelHit {
  readonly prefix: Prefix;
  readonly port: number;
  /** Banned on a bare SYN (catch_syn_scans), not a completed handshake. */
  readonly syn: boolean;
}

/**
 * What iblock needs of a packet filter. Each backend owns its table and
 * nothing else; every call is one batch and one call to the firewall.
 */
export interface Firewall {
  readonly name: string;
  /** Idempotent: create what the backend owns, keep existing bans, touch nothing else. */
  setup(): Promise<void>;
  add(bans: readonly FirewallBan[]): Promise<void>;
  remove(prefixes: readonly Prefix[]): Promise<void>;
  /**
   * A cheap check that everything the backend owns is in place (tables,
   * rules, sets not flushed). Backends without one are listed and compared.
   */
  intact?(): Promise<boolean>;
  /** What the firewall holds now. */
  list(): Promise<Prefix[]>;
  killStates(prefixes: readonly Prefix[]): Promise<void>;
  /** Hits the firewall banned by itself since the last call (kernel route), if it can. */
  drainKernelHits?(): Promise<KernelHit[]>;
  /** Stop background helpers. */
  close?(): Promise<void>;
}
