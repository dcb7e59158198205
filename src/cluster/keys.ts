/**
 * The fleet's keys in Redis. One hash tag, {name}, puts them all in one slot,
 * so the publish script may touch them together (also on Redis Cluster).
 */
export interface FleetKeys {
  /** Stream of every ban and unban, in order. */
  events: string;
  /** Sorted set: prefix -> expiry (ms; +inf permanent): the bans in force. */
  bans: string;
  /** Hash: prefix -> the ban's HMAC (64 hex digits), then the JSON array it covers (snapshotDetail). */
  details: string;
  /** Hash: origin -> "storeId:last outbox id" taken: a resent batch is not added twice. */
  published: string;
  /** Hash: "seen:<node>" and "ban:<node>" -> ms. */
  nodes: string;
}

export function fleetKeys(name: string): FleetKeys {
  const base = `iblock:{${name}}`;
  return {
    events: `${base}:events`,
    // Named anew when the entries' format changed (before any release): a
    // Redis holding the old development format is neither read nor mixed in.
    bans: `${base}:snapshot-expiry`,
    details: `${base}:snapshot`,
    published: `${base}:published`,
    nodes: `${base}:nodes`,
  };
}

/** Stream ids "ms-seq" in order; "0" is before everything. */
export function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/** The ms part of a stream id ("ms-seq"); NaN when it has none. */
export function idMs(id: string): number {
  return Number(id.split("-")[0]);
}
