import { dataError } from "../errors.js";
import { type Prefix, widen } from "./address.js";
import type { Config } from "../config.js";
import { allowListFor, type AllowList } from "./allow.js";

export interface PrefixLengths {
  ipv4: number;
  ipv6: number;
}

/** Decides what gets banned: the allow list, and how wide a ban is. */
export class Policy {
  constructor(
    public allow: AllowList,
    private lengths: PrefixLengths,
  ) {}

  /** A reloaded config: same object, new rules. */
  update(allow: AllowList, lengths: PrefixLengths): void {
    this.allow = allow;
    this.lengths = lengths;
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
   * is kept as given. Refused, with the reason, when the allow list covers it.
   */
  forManual(p: Prefix): Prefix {
    const refusal = this.allow.describe(p);
    if (refusal) throw dataError(`refusing to ban: ${refusal}`);
    return this.asBanned(p);
  }

  /** What a ban on `p` was recorded as: a plain address widened, a CIDR as given. */
  asBanned(p: Prefix): Prefix {
    const full = p.family === 4 ? 32 : 128;
    return p.length === full ? this.widened(p) : p;
  }
}

export function policyFor(config: Pick<Config, "allow" | "allow_self" | "ipv4_prefix" | "ipv6_prefix">): Policy {
  return new Policy(allowListFor(config), { ipv4: config.ipv4_prefix, ipv6: config.ipv6_prefix });
}
