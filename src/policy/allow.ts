import { networkInterfaces } from "node:os";
import type { Config } from "../config.js";
import { overlaps, parsePrefix, peerPrefix, type Prefix, formatPrefix } from "../net/address.js";
import { PrefixMatcher } from "./prefix-matcher.js";

/** Never banned whatever the config says: our own loopback and link-local neighbours. */
// Loopback, link-local, and the unspecified addresses (0.0.0.0/8, ::): a DHCP
// client sends from 0.0.0.0, and a log line "from 0.0.0.0/0" read by another
// tool (fail2ban) names it; none of them is a scanner's address.
export const ALWAYS_ALLOWED = ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128"];

export class AllowList {
  readonly prefixes: readonly Prefix[];
  private readonly matcher: PrefixMatcher;

  constructor(cidrs: readonly string[]) {
    // Widest first; drop what a wider entry already covers (nftables refuses overlapping intervals).
    const all = [...ALWAYS_ALLOWED, ...cidrs].map(parsePrefix).sort((a, b) => a.length - b.length);
    const kept: Prefix[] = [];
    for (const p of all) if (!kept.some((k) => overlaps(k, p))) kept.push(p);
    this.prefixes = kept;
    this.matcher = new PrefixMatcher(kept);
  }

  /** The allow entry that covers any part of `p`, if one does. */
  match(p: Prefix): Prefix | undefined {
    return this.matcher.match(p);
  }

  describe(p: Prefix): string | undefined {
    const hit = this.match(p);
    return hit && `${formatPrefix(p)} is in the allow list (${formatPrefix(hit)})`;
  }
}

/** This host's own addresses: a trap hit from them is our own doing. */
export function selfAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const p = peerPrefix(a.address);
      if (p) out.push(formatPrefix(p));
    }
  }
  return out;
}

/** The allow list a config asks for: `allow`, plus our own addresses with `allow_self`. */
export function allowListFor(config: Pick<Config, "allow" | "allow_self">): AllowList {
  return new AllowList([...config.allow, ...(config.allow_self ? selfAddresses() : [])]);
}
