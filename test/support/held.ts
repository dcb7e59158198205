// Whole listings for small test sets (the daemon itself never holds one).
import type { Firewall } from "../../src/firewall/firewall.js";
import type { Prefix } from "../../src/net/address.js";
import type { BanRow, Store } from "../../src/store/store.js";

export const activeBans = (store: Store, at = Date.now()): BanRow[] => [...store.activePages(10_000, at)].flat();

export async function held(fw: Firewall): Promise<Prefix[]> {
  const out: Prefix[] = [];
  await fw.scan((batch) => {
    out.push(...batch.map((h) => h.prefix));
    return Promise.resolve();
  });
  return out;
}
