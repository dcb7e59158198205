import { overlaps, parsePrefix, type Prefix, formatPrefix } from "./address.js";

/** Never banned whatever the config says: our own loopback and link-local neighbours. */
export const ALWAYS_ALLOWED = ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10"];

export class AllowList {
  readonly prefixes: readonly Prefix[];

  constructor(cidrs: readonly string[]) {
    this.prefixes = [...ALWAYS_ALLOWED, ...cidrs].map(parsePrefix);
  }

  /** The allow entry that covers any part of `p`, if one does. */
  match(p: Prefix): Prefix | undefined {
    return this.prefixes.find((a) => overlaps(a, p));
  }

  describe(p: Prefix): string | undefined {
    const hit = this.match(p);
    return hit && `${formatPrefix(p)} is in the allow list (${formatPrefix(hit)})`;
  }
}
