import { timeoutLeft, type FirewallBan } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import { prefixKey, type Prefix } from "../net/address.js";
import type { EndKind, ImportedBan, ImportEntry, Store } from "../store/store.js";
import { expireBans } from "./expiry.js";
import type { FirewallApplier } from "./firewall-applier.js";
import { nestable } from "./nesting.js";
import type { Widening } from "./widening.js";

// Bans in one streamed import load: a tenth of a million-line import (one
// `nft -f` each), while memory holds at most about two of them.
const LOAD_MAX = 100_000;
// Ban changes told to the listeners between two turns of the event loop.
const EMIT_PAGE = 5_000;

/** Imports that go to the firewall in one call: batches join while the one before is in flight. */
interface Load {
  batches: { created: ImportedBan[]; source: string }[];
  count: number;
  /** The load before this one is in the firewall (or was refused and queued for retries). */
  after: Promise<void>;
  /** Taken out of the firewall while it waited for its turn. */
  removed?: Set<string>;
}

/**
 * Many bans at once (`iblock import`, a fleet's snapshot, feeds) and their
 * other half, many bans ended at once (a feed dropped them): recorded in one
 * transaction and sent to the firewall in loads, without a log line each.
 */
export class Imports {
  /** The imports in flight, in order; the last one still takes batches while it waits. */
  private importing: Promise<void> = Promise.resolve();
  private filling: Load | undefined;
  /** Taken out of the firewall while a load waited: not put back by it. */
  private removedWhileLoading = new Set<string>();
  /** Loads whose bans are being told, and what ended meanwhile (not told as banned after its unban). */
  private telling = 0;
  private readonly removedWhileTelling = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly applier: FirewallApplier,
    /** For the rules in force and the ending of covered bans. */
    private readonly widening: Widening,
    private readonly log: Logger,
  ) {
    applier.onRemoved((p) => {
      if (this.filling) this.removedWhileLoading.add(prefixKey(p));
      if (this.telling) this.removedWhileTelling.add(prefixKey(p));
    });
  }

  /**
   * Recorded in one transaction and added to the firewall without a log line
   * each. What the firewall refuses goes the usual way (retried one by one).
   * Entries may carry their own expiry, reason and port (a fleet's snapshot).
   *
   * `addOnly`: none of them is in the firewall yet (an import, a catch-up), so
   * where a load only adds (nftables), it goes like a restore's: one `nft -f`,
   * without the add, delete, add that replaces a timeout (three times the
   * work). Such imports made while a load is in flight join the next load
   * (up to LOAD_MAX bans), so a stream of pages costs a handful of loads, and
   * recording the next pages goes on while the kernel takes the last ones.
   * Resolves once recorded, and once the load before this one's is in the
   * firewall when its own is full: memory holds about two loads. An empty
   * call resolves once every earlier import is in the firewall.
   *
   * Otherwise (PF, feeds) one firewall call per import, as it comes.
   */
  async importBans(
    prefixes: readonly (Prefix | ImportEntry)[],
    opts: { source: string; reason: string | null; durationMs: number; addOnly?: boolean },
  ): Promise<number> {
    if (prefixes.length === 0) {
      await this.importing;
      return 0;
    }
    // Bans whose time is up are closed the usual way first (logged, out of PF's
    // table): an expired ban still open would make the import skip its prefix.
    await expireBans(this.store, this.applier);
    const created = this.store.importBans(prefixes, opts);
    // A network over a narrower ban of the interval set (a person's /24 inside a
    // feed's /16) would make nftables refuse the whole batch: that one ends first.
    for (const c of created) {
      if (c.prefix.length === (c.prefix.family === 4 ? 32 : 128) || nestable(c.prefix, this.widening.rules.lengths)) continue;
      const row = this.store.openBan(c.prefix);
      if (row) await this.widening.endCovered(row, true);
    }
    if (created.length === 0) return 0;
    const streamed = opts.addOnly === true && !this.applier.firewall.can.restoreReplaces;
    let load = this.filling;
    if (!streamed || !load || load.count >= LOAD_MAX) load = this.nextLoad(streamed);
    load.batches.push({ created, source: opts.source });
    load.count += created.length;
    // One full load waiting is enough: the caller waits for the one in flight.
    if (!streamed || load.count >= LOAD_MAX) await load.after;
    return created.length;
  }

  /**
   * Many bans the caller has already ended in the store (a feed dropped them),
   * out of the firewall in one call, without a log line each.
   */
  async removeEnded(prefixes: readonly Prefix[], reason: string, kind: EndKind = "feed"): Promise<void> {
    if (prefixes.length === 0) return;
    for (const p of prefixes) this.applier.forget(prefixKey(p));
    await this.importing; // an import of the same prefixes in flight lands first
    // Checked again when the firewall's turn comes: one banned anew meanwhile (a
    // trap hit, queued before us) must stay in the firewall.
    await this.applier.remove([...prefixes], `removing ${prefixes.length} ban(s) (${reason})`, (p) => !this.store.openBan(p));
    const at = Date.now();
    for (const p of prefixes) this.applier.ended(p, { kind, reason }, false, at);
  }

  /** Settles once every import so far is in the firewall (or queued for retries). */
  async idle(): Promise<void> {
    await this.importing;
  }

  private nextLoad(streamed: boolean): Load {
    const after = this.importing;
    const load: Load = { batches: [], count: 0, after };
    if (streamed) {
      this.filling = load;
      // Its turn comes once the load before is in: batches join it meanwhile.
      this.importing = after.then(() => {
        if (this.filling === load) this.filling = undefined;
        const fw = this.applier.firewall;
        return this.runLoad(load, () => this.applier.serial(() => fw.restore(() => this.pagesOf(load))));
      });
    } else {
      // In the firewall's order at once, as it comes (an unban after it goes after it).
      const fw = this.applier.firewall;
      const loaded = this.applier.serial(() => fw.add(load.batches.flatMap((b) => this.bansOf(b.created, load))));
      // Still after the loads before it: an empty importBans() waits for them all.
      this.importing = Promise.all([after, this.runLoad(load, () => loaded)]).then(() => undefined);
    }
    this.importing = this.importing.catch((e: Error) => this.log.error(`import: ${e.message}`));
    return load;
  }

  /** Unbanned (or covered) while its load waited, and not banned again: it stays out. */
  private kept(c: ImportedBan, load: Load): boolean {
    return !load.removed?.has(prefixKey(c.prefix)) || this.store.isBanned(c.prefix);
  }

  private bansOf(created: readonly ImportedBan[], load: Load): FirewallBan[] {
    const now = Date.now();
    return created.filter((c) => this.kept(c, load)).map((c) => ({ prefix: c.prefix, timeoutSec: timeoutLeft(c.expires_at, now) }));
  }

  /** A load's batches as a restore's pages, each made when the restore reads it. */
  private async *pagesOf(load: Load): AsyncGenerator<FirewallBan[]> {
    for (const b of load.batches) yield await Promise.resolve(this.bansOf(b.created, load));
  }

  /** One load through the firewall, then each of its bans told to the listeners (or queued for retries). */
  private async runLoad(load: Load, firewallCall: () => Promise<unknown>): Promise<void> {
    if (this.removedWhileLoading.size) {
      load.removed = this.removedWhileLoading;
      if (!this.filling) this.removedWhileLoading = new Set();
    }
    try {
      await firewallCall();
    } catch (e) {
      this.log.warn(`import: the firewall refused a batch of ${load.count}, retrying one by one: ${(e as Error).message}`);
      for (const b of load.batches) {
        for (const c of b.created) {
          const row = this.store.openBan(c.prefix);
          if (row) this.applier.enqueue({ row, announce: false, quiet: true });
        }
      }
      this.applier.applySoon();
      return;
    }
    const at = Date.now();
    let told = 0;
    this.telling++;
    try {
      for (const { created, source } of load.batches) {
        for (const c of created) {
          // Unbanned (or expired) while the events before it were told: its unban went out already.
          // (Its key made only when something was: a load is up to LOAD_MAX bans.)
          if (!this.kept(c, load) || (this.removedWhileTelling.size > 0 && this.removedWhileTelling.has(prefixKey(c.prefix)))) continue;
          this.applier.changes.emit({ kind: "ban", prefix: c.prefix, source, reason: c.reason, port: c.port, expiresAt: c.expires_at, at });
          // A load holds up to LOAD_MAX: the listeners get the event loop back now and then.
          if (++told % EMIT_PAGE === 0) await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      if (--this.telling === 0) this.removedWhileTelling.clear();
    }
  }
}
