import { verifyDetail, type Verified } from "./message.js";

/**
 * One page of the snapshot checked: per entry its field name and the
 * message, or why it was refused; in the field names' order.
 */
export interface CheckedPage {
  fields: string[];
  results: (Verified | string)[];
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
  return { fields: entries.map((e) => e[0]), results: entries.map((e) => e[1]) };
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
