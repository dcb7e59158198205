import type Database from "better-sqlite3";
import { prefixKey, type Prefix } from "../net/address.js";
import { BanInserter, type NewBan } from "./ban-inserter.js";
import type { BanLookups } from "./lookups.js";
import type { ImportedBan, ImportEntry } from "./rows.js";

/**
 * Many bans at once (`iblock import`, feeds, a fleet's snapshot), in the
 * caller's transaction: 100 rows a statement (BanInserter), no hit events.
 */
export class Importer {
  private readonly inserter: BanInserter;

  constructor(
    db: Database.Database,
    private readonly lookups: BanLookups,
  ) {
    this.inserter = new BanInserter(db);
  }

  /**
   * A prefix with a ban in force, or inside a wider one, is skipped. An entry
   * may carry its own expiry (absolute), reason and port over `opts`. Returns
   * the new bans.
   */
  insert(entries: readonly (Prefix | ImportEntry)[], opts: { source: string; reason: string | null; expires_at: number | null }, at: number): ImportedBan[] {
    const lengths = this.lookups.lengths;
    const created: ImportedBan[] = [];
    // The lengths in force (family * 256 + length), and the shortest of each
    // family: most imports add one length (/32s), and a ban can only lie
    // inside a wider one when a shorter length is in force.
    const known = new Set<number>();
    const shortestKnown = { 4: Infinity, 6: Infinity };
    const know = (family: 4 | 6, length: number): void => {
      known.add(family * 256 + length);
      shortestKnown[family] = Math.min(shortestKnown[family], length);
    };
    for (const fl of lengths) {
      const [family, length] = fl.split("/").map(Number) as [4 | 6, number];
      know(family, length);
    }
    // Rows go in many a statement. A covering check sees what is written:
    // pending rows that could hold the prefix (shorter, same family) and a
    // new length are written first.
    let pending: (NewBan & { prefix: Prefix })[] = [];
    const pendingKeys = new Set<string>();
    const shortestPending = { 4: Infinity, 6: Infinity };
    const flush = (): void => {
      const made = this.inserter.insert(pending, opts.source, at);
      for (const b of pending) {
        // The pending row itself (an ImportedBan and its key): no copy of each of a million.
        if (made === "all" || made.has(b.key)) created.push(b);
      }
      pending = [];
      pendingKeys.clear();
      shortestPending[4] = shortestPending[6] = Infinity;
    };
    for (const e of entries) {
      const own = "prefix" in e ? e : undefined;
      const p = own ? own.prefix : (e as Prefix);
      if (shortestKnown[p.family] < p.length) {
        if (shortestPending[p.family] < p.length) flush();
        if (this.lookups.covering(p, at)) continue;
      }
      const key = prefixKey(p);
      // Given twice: the first one is the ban.
      if (pendingKeys.has(key)) continue;
      pending.push({ key, prefix: p, expires_at: own?.expires_at !== undefined ? own.expires_at : opts.expires_at, reason: own?.reason ?? opts.reason, port: own?.port ?? null, origin: own?.origin ?? null });
      pendingKeys.add(key);
      shortestPending[p.family] = Math.min(shortestPending[p.family], p.length);
      if (!known.has(p.family * 256 + p.length)) {
        flush();
        // It is the last row written: made, it brings its length into force.
        if (created.at(-1)?.prefix === p) {
          know(p.family, p.length);
          this.lookups.made(p);
        }
      }
    }
    flush();
    return created;
  }
}
