import type { Prefix } from "../net/address.js";
import { verifyDetail, type Verified } from "./message.js";

/**
 * One page of the snapshot checked, in the field names' order, column by
 * column: arrays of numbers cross to the main thread several times cheaper
 * than a million small objects, or strings. Per entry its field name and
 * either why it was refused or the message's fields. The columns most
 * entries share a value of (why refused, origin, kind, reason) are indexes
 * into `words`, each of its strings crossing once a page.
 */
export interface CheckedPage {
  fields: string[];
  /** The strings the columns below point into. */
  words: string[];
  /** Why the entry was refused; words[0] ("") when it passed. */
  refused: Uint32Array;
  origins: Uint32Array;
  kinds: Uint32Array;
  addresses: string[];
  families: Uint8Array;
  lengths: Uint8Array;
  /** NaN: permanent. */
  expires: Float64Array;
  reasons: Uint32Array;
  /** 0: no port. */
  ports: Uint16Array;
  ats: Float64Array;
  seqs: Float64Array;
}

/** Entry `i` of a page: the message that passed, or why it was refused. */
export function resultAt(page: CheckedPage, i: number): Verified | string {
  const word = (column: Uint32Array): string => page.words[column[i] as number] as string;
  const why = word(page.refused);
  if (why !== "") return why;
  return {
    origin: word(page.origins),
    kind: word(page.kinds) as Verified["kind"],
    prefix: prefixAt(page, i),
    expiresAt: expiresAt(page, i),
    reason: word(page.reasons),
    port: portAt(page, i),
    at: page.ats[i] as number,
    seq: page.seqs[i] as number,
  };
}

/** Entry `i`'s prefix, as its columns hold it. */
export function prefixAt(page: CheckedPage, i: number): Prefix {
  return { family: page.families[i] as 4 | 6, address: page.addresses[i] as string, length: page.lengths[i] as number };
}

/** Entry `i`'s expiry; null: permanent. */
export function expiresAt(page: CheckedPage, i: number): number | null {
  const expires = page.expires[i] as number;
  return Number.isNaN(expires) ? null : expires;
}

/** Entry `i`'s trap port; undefined: none. */
export function portAt(page: CheckedPage, i: number): number | undefined {
  const port = page.ports[i] as number;
  return port === 0 ? undefined : port;
}

function columns(entries: readonly [string, Verified | string][]): CheckedPage {
  const n = entries.length;
  const page: CheckedPage = {
    fields: new Array<string>(n),
    words: [""],
    refused: new Uint32Array(n),
    origins: new Uint32Array(n),
    kinds: new Uint32Array(n),
    addresses: new Array<string>(n),
    families: new Uint8Array(n),
    lengths: new Uint8Array(n),
    expires: new Float64Array(n),
    reasons: new Uint32Array(n),
    ports: new Uint16Array(n),
    ats: new Float64Array(n),
    seqs: new Float64Array(n),
  };
  const index = new Map<string, number>([["", 0]]);
  const word = (w: string): number => {
    let k = index.get(w);
    if (k === undefined) index.set(w, (k = page.words.push(w) - 1));
    return k;
  };
  for (let i = 0; i < n; i++) {
    const [field, r] = entries[i] as [string, Verified | string];
    page.fields[i] = field;
    if (typeof r === "string") {
      page.refused[i] = word(r);
      // The rest is unread for a refused entry; filled so the arrays stay dense.
      page.addresses[i] = "";
      continue;
    }
    page.origins[i] = word(r.origin);
    page.kinds[i] = word(r.kind);
    page.addresses[i] = r.prefix.address;
    page.families[i] = r.prefix.family;
    page.lengths[i] = r.prefix.length;
    page.expires[i] = r.expiresAt ?? NaN;
    page.reasons[i] = word(r.reason);
    page.ports[i] = r.port ?? 0;
    page.ats[i] = r.at;
    page.seqs[i] = r.seq;
  }
  return page;
}

const byField = (a: [string, Verified | string], b: [string, Verified | string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * HSCAN's [field, detail, field, detail ...] checked entry by entry (the HMAC,
 * then each field), sorted by field name: a host writes the prefix there,
 * and the store takes bans fastest in prefix order. A name that lies costs
 * speed, never a wrong ban: only the checked message is acted on.
 */
export function checkPage(secret: Buffer, fleet: string, flat: readonly string[]): CheckedPage {
  const entries: [string, Verified | string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const checked = verifyDetail(secret, fleet, flat[i + 1] as string);
    entries.push([flat[i] as string, checked.ok ? checked.message : checked.why]);
  }
  entries.sort(byField);
  return columns(entries);
}

/** The commands of a Redis client that reading the snapshot needs. */
export interface HashScanner {
  hscan(key: string, cursor: string, count: "COUNT", n: number): Promise<[string, string[]]>;
}

/**
 * The snapshot's hash a page of HSCAN at a time, each page checked. HSCAN
 * names the next cursor: that page is asked for before this one is checked,
 * so Redis and the checks work at once.
 */
export async function* snapshotPages(redis: HashScanner, key: string, count: number, secret: Buffer, fleet: string): AsyncGenerator<CheckedPage> {
  const ask = (cursor: string): Promise<[string, string[]]> => {
    const reply = redis.hscan(key, cursor, "COUNT", count);
    // Awaited below; left unheard only when the reading stops before it.
    reply.catch(() => undefined);
    return reply;
  };
  let pending = ask("0");
  for (;;) {
    const [next, flat] = await pending;
    if (next !== "0") pending = ask(next);
    if (flat.length) yield checkPage(secret, fleet, flat);
    if (next === "0") return;
  }
}
