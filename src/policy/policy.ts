import { dataError } from "../errors.js";
import { type Prefix, widen } from "./address.js";
import type { AllowList } from "./allow.js";

export interface PrefixLengths {
  ipv4: number;
  ipv6: number;
}

/** Decides what gets banned: the allow list, and how wide a ban is. */
export class Policy {
  constructor(
    readonly allow: AllowList,
    private readonly lengths: PrefixLengths,
  ) {}

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
