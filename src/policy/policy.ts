import { IblockError, EX_DATAERR } from "../errors.js";
import { formatPrefix, type Prefix, widen } from "./address.js";
import type { Config } from "../config.js";
import { allowListFor, type AllowList } from "./allow.js";
import { hostAddresses, hostCover, type HostAddress } from "./host-addresses.js";

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

/** Decides what gets banned: the allow list, and how wide a ban is. */
export class Policy {
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
  }

  private widened(address: Prefix): Prefix {
    const wide = widen(address, address.family === 4 ? this.lengths.ipv4 : this.lengths.ipv6);
    // Never let a wide ban swallow an allowed neighbour: fall back to the address alone.
    return this.allow.match(wide) ? address : wide;
  }

  /** The prefix to ban for a trap hit from `peer`, or undefined when it is allowed. */
  forHit(peer: Prefix): Prefix | undefined {
    return this.allow.match(peer) ? undefined : this.widened(peer);
  }

  /**
   * A ban someone asked for: a plain address is widened like a trap hit, a CIDR
   * is kept as given. Refused, with the reason: wider than the manual limit
   * (unless forced), covered by the allow list, or covering this host's own
   * addresses, gateways or resolvers (forced or not).
   */
  forManual(p: Prefix, opts: { force?: boolean } = {}): Prefix {
    const refused = this.manualRefusal(p, { force: opts.force, hostCover: this.hostCoverNow() });
    if (refused) throw new BanRefused(refused.why);
    return this.asBanned(p);
  }

  /**
   * Why a manual ban of `p` is refused, or undefined. `hostCover`: this
   * host's addresses, read once for a whole import.
   */
  manualRefusal(p: Prefix, opts: { force?: boolean; hostCover: (p: Prefix) => string | undefined }): Refusal | undefined {
    // The width first: 0.0.0.0/0 is refused for what it is, not for the first allowed address it covers.
    if (!opts.force) {
      const [limit, key] = p.family === 4 ? [this.manualLimits.ipv4, "max_manual_v4"] : [this.manualLimits.ipv6, "max_manual_v6"];
      if (p.length < limit) return { kind: "too_wide", why: `${formatPrefix(p)} is wider than /${limit} (${key}); give --force (API: "force": true) if you mean it` };
    }
    // The admin's own word next; with allow_self it names the host's addresses too.
    const allowed = this.allow.describe(p);
    if (allowed) return { kind: "allowed", why: allowed };
    const ours = opts.hostCover(p);
    if (ours) return { kind: "host", why: `${formatPrefix(p)} ${ours}` };
    return undefined;
  }

  /** This host's addresses, gateways and resolvers as they are now, for manualRefusal. */
  hostCoverNow(): (p: Prefix) => string | undefined {
    return hostCover(this.host());
  }

  /** What a ban on `p` was recorded as: a plain address widened, a CIDR as given. */
  asBanned(p: Prefix): Prefix {
    const full = p.family === 4 ? 32 : 128;
    return p.length === full ? this.widened(p) : p;
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
