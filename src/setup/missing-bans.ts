import type { Firewall } from "../firewall/firewall.js";
import { formatPrefix, prefixKey } from "../net/address.js";
import { storedPrefix, type Store } from "../store/store.js";

export interface MissingBans {
  /** Bans in force in the store. */
  stored: number;
  /** Of those, how many the firewall does not hold. */
  missing: number;
  /** The first few missing, as prefixes. */
  examples: string[];
}

/**
 * The store's bans in force that the firewall does not hold, element for
 * element (the ban sets do not merge their elements). The cheap check only
 * sees a table or a set gone; this sees single bans lost (a failed apply, an
 * element deleted by hand), which only a start puts back.
 */
export async function missingBans(store: Store, firewall: Firewall, maxExamples = 3, at = Date.now()): Promise<MissingBans> {
  const held = new Set<string>();
  await firewall.scan((page) => {
    for (const h of page) held.add(prefixKey(h.prefix));
    return Promise.resolve();
  });
  const r: MissingBans = { stored: 0, missing: 0, examples: [] };
  for (const rows of store.activePages(10_000, at)) {
    for (const row of rows) {
      r.stored++;
      const p = storedPrefix(row.prefix);
      if (held.has(prefixKey(p))) continue;
      r.missing++;
      if (r.examples.length < maxExamples) r.examples.push(formatPrefix(p));
    }
  }
  return r;
}
