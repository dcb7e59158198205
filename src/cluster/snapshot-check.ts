import { quote, verify, type Verified } from "./message.js";

/** A snapshot entry is the signed message as JSON; anything else is garbage. */
function parseDetail(text: string): Record<string, string> | string {
  if (text.length > 8_192) return `${text.length} bytes (at most 8192)`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return `not JSON: ${quote(text)}`;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `not an object: ${quote(text)}`;
  // Used as it is, not copied (a million entries): its own keys are all JSON gave,
  // and verify() reads only those, refusing any it does not know ("__proto__" too).
  const out = v as Record<string, unknown>;
  for (const k of Object.keys(out)) {
    if (typeof out[k] !== "string") return `field ${quote(k)} is not text`;
  }
  return out as Record<string, string>;
}

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
 * HSCAN's [field, detail, field, detail ...] checked entry by entry (the JSON,
 * the HMAC, each field), sorted by field name: a host writes the prefix there,
 * and the store takes bans fastest in prefix order. A name that lies costs
 * speed, never a wrong ban: only the checked message is acted on.
 */
export function checkPage(secret: Buffer, fleet: string, flat: readonly string[]): CheckedPage {
  const entries: [string, Verified | string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const raw = parseDetail(flat[i + 1] as string);
    if (typeof raw === "string") {
      entries.push([flat[i] as string, raw]);
      continue;
    }
    const checked = verify(secret, fleet, raw);
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
