import type { Prefix } from "../net/address.js";

// A list that grows more than this many times over is held back like one that shrinks by half:
// a feed that suddenly lists ten times more was more likely broken or taken over than right.
export const GROWTH_HOLD = 10;

/**
 * How much of the Internet a list bans, per family: IPv4 in addresses, IPv6
 * in /64 networks (a /128 counts as one: a trap ban widens it to its /64).
 */
export interface Coverage {
  v4: number;
  v6: bigint;
}

export function coverage(prefixes: Iterable<Prefix>): Coverage {
  let v4 = 0;
  let v6 = 0n;
  for (const p of prefixes) {
    if (p.family === 4) v4 += 2 ** (32 - p.length);
    else if (p.length <= 64) v6 += 1n << BigInt(64 - p.length);
    else v6 += 1n;
  }
  return { v4, v6 };
}

interface ListSize {
  entries: number;
  covers: Coverage;
}

/**
 * "shrank from 1000 to 400 entries" when a list changed so much it waits for
 * a person, else undefined. Entries alone would let 1,000 /32s become 1,000
 * /16s: what they cover is held to the same tenfold, family by family.
 */
export function suspectChange(before: ListSize, after: ListSize): string | undefined {
  if (before.entries === 0) return undefined;
  if (after.entries * 2 < before.entries) return `shrank from ${before.entries} to ${after.entries} entries`;
  if (after.entries > before.entries * GROWTH_HOLD) return `grew more than tenfold, from ${before.entries} to ${after.entries} entries`;
  const { v4: b4, v6: b6 } = before.covers;
  const { v4: a4, v6: a6 } = after.covers;
  if (b4 > 0 && a4 > b4 * GROWTH_HOLD) return `grew more than tenfold in IPv4 addresses covered, from ${b4} to ${a4}`;
  if (b6 > 0n && a6 > b6 * BigInt(GROWTH_HOLD)) return `grew more than tenfold in IPv6 /64 networks covered, from ${b6} to ${a6}`;
  return undefined;
}
