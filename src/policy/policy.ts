import { IblockError, EX_DATAERR } from "../errors.js";
import { formatPrefix, type Prefix, widen } from "../net/address.js";
import type { Config } from "../config.js";
import { allowListFor, type AllowList } from "./allow.js";
import { hostAddresses, HostFacts, type HostAddress } from "./host-addresses.js";

export interface PrefixLengths {
  ipv4: number;
  ipv6: number;
}

/** Why a ban someone asked for is refused; an import counts them by kind. */
export interface Refusal {
  kind: "too_wide" | "host" | "allowed";
  why: string;
}

/**
 * A ban someone asked for that the rules refuse: the request was well formed,
 * the answer is no (403 over HTTP, EX_DATAERR from the CLI).
 */
export class BanRefused extends IblockError {
  readonly statusCode = 403;
  constructor(message: string) {
    super(`refusing to ban: ${message}`, EX_DATAERR);
  }
}

/**
 * The widest network an import bans, whatever --force says: a foreign list's
 * line like 128.0.0.0/1 must not cut the host off.
 */
export const IMPORT_MIN_LENGTH: PrefixLengths = { ipv4: 8, ipv6: 19 };

/** A manual ban judged: what to ban, or why not. */
export type ManualVerdict = { prefix: Prefix; refusal?: undefined } | { refusal: Refusal; prefix?: undefined };

export interface ManualRules {
  /** Past max_manual_v4/v6 (never past `floor`, nor over the host). */
  force?: boolean;
  /** This host's facts, read once for a ban or a whole import. */
  host: HostFacts;
  /** Wider than this is refused, forced or not (an import: IMPORT_MIN_LENGTH). */
  floor?: PrefixLengths;
  /** A plain address is banned as itself, not widened to ipv4_prefix/ipv6_prefix (another tool's ban, which it lifts address by address). */
  exact?: boolean;
}

// Trap hits may come by the thousand a second: the host's facts they are
// widened against are read again at most this often.
const HIT_HOST_FACTS_MS = 5_000;

/** Decides what gets banned: the allow list, and how wide a ban is. */
export class Policy {
  private hitHost: { facts: HostFacts; at: number } | undefined;

  constructor(
    public allow: AllowList,
    private lengths: PrefixLengths,
    /** The widest manual ban without force: max_manual_v4, max_manual_v6. */
    private manualLimits: PrefixLengths,
    /** Read at each manual ban: they change (DHCP, a VPN). */
    private readonly host: () => readonly HostAddress[] = hostAddresses,
  ) {}

  /** A reloaded config: same object, new rules. */
  update(allow: AllowList, lengths: PrefixLengths, manualLimits: PrefixLengths): void {
    this.allow = allow;
    this.lengths = lengths;
    this.manualLimits = manualLimits;
    this.hitHost = undefined;
  }

  /**
   * This host's addresses, gateways and resolvers as they are now: read once,
   * then asked about each prefix of a ban, an import, a feed, a peer's batch.
   */
  hostFacts(): HostFacts {
    return new HostFacts(this.host());
  }

  private hostFactsForHits(now = Date.now()): HostFacts {
    if (!this.hitHost || now - this.hitHost.at >= HIT_HOST_FACTS_MS) this.hitHost = { facts: this.hostFacts(), at: now };
    return this.hitHost.facts;
  }

  private widened(address: Prefix, host: HostFacts): Prefix {
    const wide = widen(address, address.family === 4 ? this.lengths.ipv4 : this.lengths.ipv6);
    if (wide.length === address.length) return address;
    // Never let a wide ban swallow an allowed neighbour, nor this host's own
    // address, gateway or resolver next door: fall back to the address alone.
    return this.allow.match(wide) || host.covering(wide) ? address : wide;
  }

  /** The prefix to ban for a trap hit from `peer`, or undefined when it is allowed. */
  forHit(peer: Prefix): Prefix | undefined {
    return this.allow.match(peer) ? undefined : this.widened(peer, this.hostFactsForHits());
  }

  /**
   * A ban someone asked for: a plain address is widened like a trap hit (not
   * over the allow list or this host's addresses), a CIDR is kept as given.
   * Refused, with the reason: wider than the manual limit (unless forced),
   * covered by the allow list, or covering this host's own addresses,
   * gateways or resolvers (forced or not).
   */
  forManual(p: Prefix, opts: { force?: boolean } = {}): Prefix {
    const verdict = this.manualBan(p, { force: opts.force, host: this.hostFacts() });
    if (verdict.refusal) throw new BanRefused(verdict.refusal.why);
    return verdict.prefix;
  }

  /** What a manual ban of `p` bans, or why it is refused. */
  manualBan(p: Prefix, rules: ManualRules): ManualVerdict {
    const refusal = this.manualRefusal(p, rules);
    return refusal ? { refusal } : { prefix: rules.exact === true ? p : this.asBanned(p, rules.host) };
  }

  private manualRefusal(p: Prefix, rules: ManualRules): Refusal | undefined {
    // The width first: 0.0.0.0/0 is refused for what it is, not for the first allowed address it covers.
    const v4 = p.family === 4;
    const floor = rules.floor && (v4 ? rules.floor.ipv4 : rules.floor.ipv6);
    if (floor !== undefined && p.length < floor) return { kind: "too_wide", why: `${formatPrefix(p)} is wider than /${floor}, the widest an import takes (--force or not)` };
    if (!rules.force) {
      const [limit, key] = v4 ? [this.manualLimits.ipv4, "max_manual_v4"] : [this.manualLimits.ipv6, "max_manual_v6"];
      if (p.length < limit) return { kind: "too_wide", why: `${formatPrefix(p)} is wider than /${limit} (${key}); give --force (API: "force": true) if you mean it` };
    }
    // The admin's own word next; with allow_self it names the host's addresses too.
    const allowed = this.allow.describe(p);
    if (allowed) return { kind: "allowed", why: allowed };
    // What would be banned, not what was asked: a plain address is widened.
    const banned = this.asBanned(p, rules.host);
    const ours = rules.host.covering(banned);
    if (ours) return { kind: "host", why: `${formatPrefix(banned)} ${ours}` };
    return undefined;
  }

  /** What a ban on `p` was recorded as: a plain address widened, a CIDR as given. */
  asBanned(p: Prefix, host: HostFacts = this.hostFacts()): Prefix {
    const full = p.family === 4 ? 32 : 128;
    return p.length === full ? this.widened(p, host) : p;
  }
}

type PolicyKeys = "allow" | "allow_self" | "ipv4_prefix" | "ipv6_prefix" | "max_manual_v4" | "max_manual_v6";

export function policyFor(config: Pick<Config, PolicyKeys>): Policy {
  return new Policy(allowListFor(config), ...policyLengths(config));
}

/** The lengths of a config a Policy takes, in the constructor's and update's order. */
export function policyLengths(config: Pick<Config, PolicyKeys>): [PrefixLengths, PrefixLengths] {
  return [
    { ipv4: config.ipv4_prefix, ipv6: config.ipv6_prefix },
    { ipv4: config.max_manual_v4, ipv6: config.max_manual_v6 },
  ];
}
