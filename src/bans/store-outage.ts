import { timeoutLeft, type FirewallBan } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import { prefixKey } from "../net/address.js";
import type { HitGroup } from "../store/store.js";
import { plannedExpiry, type BanRules } from "./rules.js";
import type { FirewallApplier } from "./firewall-applier.js";

// Distinct sources kept in memory while the store cannot be written (a day of a busy host).
export const MAX_KEPT = 1_000_000;

/**
 * The store cannot be written (a full disk, a read-only state dir, an I/O
 * error). The firewall is the protection and the store the memory: ban at
 * once with the rules' first-offence length, and let the queue keep the hits
 * until the store works again. One log line per outage.
 */
export class StoreOutage {
  /** Hit batches the store refused since start (iblock_store_errors_total). */
  errors = 0;
  /** The last write to the store failed (it is tried again with each batch). */
  down = false;
  /** Banned in the firewall while the store was down, not yet recorded. At most MAX_KEPT. */
  private readonly banned = new Set<string>();

  constructor(
    private readonly applier: FirewallApplier,
    private readonly log: Logger,
  ) {}

  /**
   * The store refused `groups`: ban those not banned yet, `settled` once each
   * is in the firewall, and ask for another try after a backoff. The caller
   * keeps the hits.
   */
  async failed(groups: readonly HitGroup[], error: Error, rules: BanRules, settled: (key: string) => void): Promise<void> {
    this.errors++;
    if (!this.down) {
      this.down = true;
      this.log.error(`cannot write the store (${error.message}); banning all the same and keeping the hits in memory until it works again`);
    }
    const fresh = groups.filter((g) => !this.banned.has(prefixKey(g.prefix)) && this.banned.size < MAX_KEPT);
    if (fresh.length) {
      // A first offence's length: the store that knows of earlier ones cannot be asked.
      const now = Date.now();
      const bans: FirewallBan[] = fresh.map((g) => ({ prefix: g.prefix, timeoutSec: timeoutLeft(plannedExpiry({ ...g, at: now }, 1, rules), now) }));
      try {
        await this.applier.serial(() => this.applier.firewall.add(bans));
        for (const [i, g] of fresh.entries()) {
          const key = prefixKey(g.prefix);
          this.banned.add(key);
          settled(key);
          const port = [...g.ports.keys()].find((p) => p > 0) ?? null;
          const timeoutSec = bans[i]?.timeoutSec;
          const expiresAt = timeoutSec === undefined ? null : Date.now() + timeoutSec * 1000;
          this.applier.banned(g.prefix, { source: g.source, reason: g.reason ?? null, port, expiresAt }, true);
        }
      } catch (e) {
        this.log.error(`firewall refused ${bans.length} ban(s) while the store is down, retrying: ${(e as Error).message}`);
      }
    }
    // What waits is only in memory: the daemon must stay up to record it.
    this.applier.wakeIn(this.applier.retryDelay.next(), true);
  }

  /** A batch of `count` hits was recorded: the outage, if any, is over. */
  recorded(count: number): void {
    if (!this.down) return;
    this.down = false;
    this.applier.retryDelay.reset();
    this.log.info(`the store works again: ${count} kept hit(s) recorded`);
  }

  /** Banned and announced during the outage (now recorded): only its timeout may change. Forgotten once asked. */
  announced(key: string): boolean {
    return this.banned.delete(key);
  }
}
