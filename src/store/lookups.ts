import type Database from "better-sqlite3";
import { overlaps, parsePrefix, prefixKey, widen, type Prefix } from "../net/address.js";
import { FAMILY_SQL, LENGTH_SQL } from "./schema.js";
import { textPrefix, type BanRow } from "./rows.js";

/** Bans in force: not ended, and their time not up at `?`. */
export const IN_FORCE_SQL = "ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)";

/** True when an expiry (ms; null is permanent) is strictly later than another. */
const endsLater = (a: number | null, b: number | null): boolean => b !== null && (a === null || a > b);

/**
 * The bans in force on a prefix, around it and inside it. Only the lengths
 * bans have been made with are looked up (a handful): never a scan of the bans.
 */
export class BanLookups {
  private readonly open: Database.Statement<[string, number], BanRow>;
  private readonly range: Database.Statement<[string, string, number], BanRow>;
  private bySource: Database.Statement<[string, number], { prefix: string }> | undefined;
  /** "family/length" of the bans in force. Found when first needed. */
  private lengthsInForce: Set<string> | undefined;

  constructor(private readonly db: Database.Database) {
    this.open = db.prepare<[string, number], BanRow>(`SELECT * FROM bans WHERE prefix = ? AND ${IN_FORCE_SQL}`);
    // INDEXED BY: left to itself the planner read every ban in force for each covered-ban lookup.
    this.range = db.prepare<[string, string, number], BanRow>(`SELECT * FROM bans INDEXED BY bans_open WHERE prefix >= ? AND prefix < ? AND ${IN_FORCE_SQL}`);
  }

  /** One index probe per possible length (162 at most), never a scan of the bans. */
  get lengths(): Set<string> {
    if (this.lengthsInForce) return this.lengthsInForce;
    const probe = this.db.prepare<[number, number], { one: number }>(
      `SELECT 1 AS one FROM bans WHERE ${FAMILY_SQL} = ? AND ${LENGTH_SQL} = ? AND ended_at IS NULL LIMIT 1`,
    );
    const found = new Set<string>();
    for (const [family, max] of [
      [4, 32],
      [6, 128],
    ] as const) {
      for (let len = 0; len <= max; len++) if (probe.get(family, len)) found.add(`${family}/${len}`);
    }
    this.lengthsInForce = found;
    return found;
  }

  /** The prefixes of the bans in force of one source (sshguard's flush). */
  ofSource(source: string, at: number): string[] {
    this.bySource ??= this.db.prepare(`SELECT prefix FROM bans WHERE source = ? AND ${IN_FORCE_SQL}`);
    return this.bySource.all(source, at).map((r) => r.prefix);
  }

  /** A ban on `p` was made: its length is in force. */
  made(p: Prefix): void {
    this.lengths.add(`${p.family}/${p.length}`);
  }

  /** The ban in force on exactly `key`, if any. */
  openBan(key: string, at: number): BanRow | undefined {
    return this.open.get(key, at);
  }

  /** The bans in force on networks wider than `p` that hold it. */
  wider(p: Prefix, at: number): BanRow[] {
    const rows: BanRow[] = [];
    for (const fl of this.lengths) {
      const [family, len] = fl.split("/").map(Number) as [number, number];
      if (family !== p.family || len >= p.length) continue;
      const row = this.open.get(prefixKey(widen(p, len)), at);
      if (row) rows.push(row);
    }
    return rows;
  }

  /** The wider ban in force that holds `p`, the longest-lasting when there are several. */
  covering(p: Prefix, at: number): BanRow | undefined {
    let best: BanRow | undefined;
    for (const row of this.wider(p, at)) if (!best || endsLater(row.expires_at, best.expires_at)) best = row;
    return best;
  }

  /** Bans in force inside the network `net` (its own ban included). */
  within(net: Prefix, at: number): BanRow[] {
    // Nothing narrower was ever banned: only `net` itself can be there (the common case, cheap).
    if (![...this.lengths].some((fl) => fl.startsWith(`${net.family}/`) && Number(fl.split("/")[1]) > net.length)) {
      const own = this.open.get(prefixKey(net), at);
      return own ? [own] : [];
    }
    // Keys sort as text: every "a.b.c.x/len" lies between "a.b.c." and "a.b.c/".
    const lo = textPrefix(net);
    const rows = this.range.all(lo, lo + "\uffff", at);
    return rows.filter((r) => {
      const p = parsePrefix(r.prefix);
      return p.family === net.family && p.length >= net.length && overlaps(p, net);
    });
  }

  /** Bans in force that overlap `net`: inside it, or wider and holding it. */
  overlapping(net: Prefix, at: number): BanRow[] {
    return [...this.within(net, at), ...this.wider(net, at)];
  }
}
