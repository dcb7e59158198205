import type { Prefix } from "../net/address.js";

/**
 * The lengths trap hits are banned at (ipv4_prefix, ipv6_prefix). A ban of such
 * a length may sit inside a wider ban, because every firewall keeps the two
 * apart (nftables: the keyed set beside the interval set). Two bans of other
 * lengths, one inside the other, would share nftables' interval set, which
 * refuses overlapping intervals.
 */
export interface BanLengths {
  ipv4: number;
  ipv6: number;
}

export const DEFAULT_BAN_LENGTHS: BanLengths = { ipv4: 32, ipv6: 64 };

export function nestable(p: Prefix, lengths: BanLengths): boolean {
  return p.length === (p.family === 4 ? lengths.ipv4 : lengths.ipv6);
}

/** True when an expiry (ms; null is permanent) is strictly later than another. */
export function endsLater(a: number | null, b: number | null): boolean {
  if (b === null) return false;
  return a === null || a > b;
}

/**
 * Whether the firewall can hold a ban on `p` inside the wider bans `wides`
 * (every one in force that holds it): `p` is of a trap hit's length (the
 * keyed set), or all of them are, and `p` alone is in the interval set (a
 * tool's /128 inside a trap's /64). One wider ban of another length would
 * share the interval set with `p`, which refuses overlapping intervals.
 */
export function canNest(p: Prefix, wides: readonly Prefix[], lengths: BanLengths): boolean {
  return nestable(p, lengths) || wides.every((w) => nestable(w, lengths));
}

/**
 * Whether a ban on `p` ending at `expires` needs a ban of its own inside the
 * wider bans `wides`, the longest-lasting of which ends at `wideExpires`,
 * rather than only counting there: only when it outlives them, and the
 * firewall can hold it beside them.
 */
export function needsOwnBan(p: Prefix, expires: number | null, wides: readonly Prefix[], wideExpires: number | null, lengths: BanLengths): boolean {
  return canNest(p, wides, lengths) && endsLater(expires, wideExpires === null ? null : wideExpires + NEST_MARGIN_MS);
}

/**
 * A ban inside a wider one must outlive it by more than this to be kept or
 * made: an aggregate /24 made a moment after the bans inside it ends a moment
 * later than they would, and is not worth a ban of each.
 */
export const NEST_MARGIN_MS = 60_000;
