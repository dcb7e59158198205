import ipaddr from "ipaddr.js";
import type { Prefix } from "../policy/address.js";

interface Net {
  prefix: Prefix;
  value: bigint;
}

const BITS = { 4: 32n, 6: 128n } as const;

function valueOf(p: Prefix): bigint {
  if (p.family === 4) {
    const [a = 0, b = 0, c = 0, d = 0] = p.address.split(".").map(Number);
    return BigInt(((a << 24) >>> 0) + (b << 16) + (c << 8) + d);
  }
  let v = 0n;
  for (const part of ipaddr.IPv6.parse(p.address).parts) v = (v << 16n) | BigInt(part);
  return v;
}

/**
 * "Does this prefix overlap any of these networks", for every line of a feed:
 * the networks as numbers once, each line's address as a number once, no
 * parse per comparison (overlaps() in address.ts parses twice per call: 10 s
 * for the 20 checks of each line of a 100,000-line feed).
 */
export class PrefixMatcher {
  private readonly nets: Net[];

  constructor(prefixes: readonly Prefix[]) {
    this.nets = prefixes.map((prefix) => ({ prefix, value: valueOf(prefix) }));
  }

  /** The first network that shares an address with `p`. */
  match(p: Prefix, value = valueOf(p)): Prefix | undefined {
    const bits = BITS[p.family];
    for (const n of this.nets) {
      if (n.prefix.family !== p.family) continue;
      const shift = bits - BigInt(Math.min(n.prefix.length, p.length));
      if (n.value >> shift === value >> shift) return n.prefix;
    }
    return undefined;
  }
}
