import { rowPrefix, type Store } from "../store/store.js";
import type { FirewallApplier } from "./firewall-applier.js";

/**
 * End the bans whose time is up, in the store and (where elements do not
 * expire by themselves) in the firewall. A few thousand at a time, yielding
 * between, so a day-old storm expiring at once never stalls the daemon.
 * Returns how many ended.
 */
export async function expireBans(store: Store, applier: FirewallApplier): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = store.endExpired();
    if (rows.length === 0) return total;
    total += rows.length;
    for (const r of rows) applier.forget(r.prefix);
    const prefixes = rows.map(rowPrefix);
    if (applier.firewall.can.expiresItself) applier.removing(prefixes);
    else await applier.remove(prefixes, "removing expired bans");
    const at = Date.now();
    for (const p of prefixes) applier.ended(p, { kind: "expired", reason: "expired" }, true, at);
    await new Promise((r) => setImmediate(r));
  }
}
