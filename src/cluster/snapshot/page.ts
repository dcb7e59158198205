import type { Prefix } from "../../net/address.js";
import { verifyDetail, type Verified } from "../message.js";
import type { SnapshotEntry } from "./entry.js";

/**
 * One page of the snapshot checked, sorted by field name, column by column:
 * how a page crosses from the reader's thread and waits in a window, since
 * arrays of numbers cross several times cheaper than a million small
 * objects, and hold still for the collector. The columns most entries
 * share a value of (why refused, origin, kind, reason) are indexes into
 * `words`, each of its strings crossing once a page. Read as SnapshotEntry
 * by entryAt(), nowhere else.
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

/** Entry `i` of a page. */
export function entryAt(page: CheckedPage, i: number): SnapshotEntry {
  const word = (column: Uint32Array): string => page.words[column[i] as number] as string;
  const field = page.fields[i] as string;
  const why = word(page.refused);
  if (why !== "") return { field, ok: false, why };
  const expires = page.expires[i] as number;
  const port = page.ports[i] as number;
  const prefix: Prefix = { family: page.families[i] as 4 | 6, address: page.addresses[i] as string, length: page.lengths[i] as number };
  const message: Verified = {
    origin: word(page.origins),
    kind: word(page.kinds) as Verified["kind"],
    prefix,
    expiresAt: Number.isNaN(expires) ? null : expires,
    reason: word(page.reasons),
    port: port === 0 ? undefined : port,
    at: page.ats[i] as number,
    seq: page.seqs[i] as number,
  };
  return { field, ok: true, message };
}

function columns(entries: readonly SnapshotEntry[]): CheckedPage {
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
    const e = entries[i] as SnapshotEntry;
    page.fields[i] = e.field;
    if (!e.ok) {
      page.refused[i] = word(e.why);
      // The rest is unread for a refused entry; filled so the arrays stay dense.
      page.addresses[i] = "";
      continue;
    }
    const m = e.message;
    page.origins[i] = word(m.origin);
    page.kinds[i] = word(m.kind);
    page.addresses[i] = m.prefix.address;
    page.families[i] = m.prefix.family;
    page.lengths[i] = m.prefix.length;
    page.expires[i] = m.expiresAt ?? NaN;
    page.reasons[i] = word(m.reason);
    page.ports[i] = m.port ?? 0;
    page.ats[i] = m.at;
    page.seqs[i] = m.seq;
  }
  return page;
}

const byField = (a: SnapshotEntry, b: SnapshotEntry): number => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0);

/**
 * HSCAN's [field, detail, field, detail ...] checked entry by entry (the HMAC,
 * then each field), sorted by field name: a host writes the prefix there,
 * and the store takes bans fastest in prefix order. A name that lies costs
 * speed, never a wrong ban: only the checked message is acted on.
 */
export function checkPage(secret: Buffer, fleet: string, flat: readonly string[]): CheckedPage {
  const entries: SnapshotEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ field: flat[i] as string, ...verifyDetail(secret, fleet, flat[i + 1] as string) });
  entries.sort(byField);
  return columns(entries);
}
