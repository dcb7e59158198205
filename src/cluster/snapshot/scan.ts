import { checkPage, type CheckedPage } from "./page.js";

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
