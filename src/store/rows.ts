import ipaddr from "ipaddr.js";
import { parsePrefix, type Prefix } from "../net/address.js";

export interface BanRow {
  id: number;
  prefix: string;
  first_seen: number;
  last_seen: number;
  hits: number;
  port: number | null;
  source: string;
  reason: string | null;
  expires_at: number | null;
  ended_at: number | null;
  /** How it ended, shown as it is; `end_kind` is what code reads. */
  end_reason: string | null;
  /** A peer's ban: the fleet host that made it. */
  origin: string | null;
  end_kind: EndKind | null;
}

/**
 * Why a ban ended: its time ran out, an admin lifted it, the allow list took
 * it, a wider ban covers it, the peer that made it lifted it, the feed that
 * held it dropped it, or the firewall refused it (inetd).
 */
export type EndKind = "expired" | "unban" | "allowed" | "covered" | "peer" | "feed" | "refused";

/** An ending: its kind, and the text shown for it. */
export interface Ending {
  kind: EndKind;
  reason: string;
}

/** Hits of one prefix gathered in one batch. */
export interface HitGroup {
  prefix: Prefix;
  /** count per port; port 0 when it is not known (a redirect listener). */
  ports: Map<number, number>;
  source: string;
  reason?: string;
  /** A peer's ban: the fleet host that made it. */
  origin?: string;
  /** A ban of this length whatever the rules say (`iblock ban --time`). */
  durationMs?: number;
  at: number;
}

/** One ban of an import with its own expiry (ms since the epoch; null permanent), reason or port. */
export interface ImportEntry {
  prefix: Prefix;
  expires_at?: number | null;
  reason?: string | null;
  port?: number | null;
  /** A peer's ban (a fleet's snapshot): the host that made it. */
  origin?: string | null;
}

/** A ban an import made. */
export interface ImportedBan {
  prefix: Prefix;
  expires_at: number | null;
  reason: string | null;
  port: number | null;
}

export interface Stats {
  active: number;
  bans_last_24h: number;
  hits_last_24h: number;
  top_ports: { port: number; hits: number }[];
}

/** Everything the store holds on one prefix (`iblock show`). */
export interface History {
  bans: BanRow[];
  hits: number;
  ports: { port: number; hits: number }[];
  first_seen: number | null;
  last_seen: number | null;
}

/** Text every key inside `net` starts with (whole leading octets or groups), for a range scan. */
export function textPrefix(net: Prefix): string {
  if (net.family === 4) return net.address.split(".").slice(0, Math.floor(net.length / 8)).join(".");
  const groups = ipaddr.IPv6.parse(net.address).parts.slice(0, Math.floor(net.length / 16));
  // A zero group may be swallowed by "::" in a key: stop before the first one.
  const zero = groups.indexOf(0);
  return (zero === -1 ? groups : groups.slice(0, zero)).map((g) => g.toString(16)).join(":");
}

export const rowPrefix = (row: Pick<BanRow, "prefix">): Prefix => parsePrefix(row.prefix);

// A key as prefixKey writes it: an address of digits and dots, or of hex digits and colons, and a length.
const KEY_V4 = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
const KEY_V6 = /^[0-9a-f:]{2,39}\/\d{1,3}$/;

/**
 * A stored key back as a prefix without the full parse (1.7 s for a million,
 * a quarter of a restore): the store holds only keys prefixKey wrote, and the
 * pattern still keeps anything but an address and a length from reaching a
 * firewall command. Anything else gets the full parse, which refuses it.
 */
export function storedPrefix(key: string): Prefix {
  const v4 = KEY_V4.test(key);
  if (!v4 && !KEY_V6.test(key)) return parsePrefix(key);
  const slash = key.indexOf("/");
  return { family: v4 ? 4 : 6, address: key.slice(0, slash), length: Number(key.slice(slash + 1)) };
}
