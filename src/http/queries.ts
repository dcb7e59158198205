import type Database from "better-sqlite3";
import { overlaps, parsePrefix, type Prefix } from "../net/address.js";
import { textPrefix, type BanRow } from "../store/store.js";
import { BadRequest } from "./bad-request.js";

export interface EventRow {
  id: number;
  at: number;
  prefix: string;
  kind: string;
  port: number | null;
  count: number;
  detail: string | null;
}

export interface BanFilter {
  /** The previous page's `next`: rows after the one with this id (by id; inside `within`, by key). */
  after: number;
  limit: number;
  source?: string;
  since?: number;
  /** Bans inside this network (itself included). */
  within?: Prefix;
}

/**
 * The API's pages, read by index a page at a time: a page costs the same at
 * the end of a million bans as at the start. Prepared once.
 */
export class ApiQueries {
  private readonly q;

  constructor(db: Database.Database) {
    const inForce = "ended_at IS NULL AND (expires_at IS NULL OR expires_at > @now)";
    const filters = "(@source IS NULL OR source = @source OR source LIKE @source || ':%') AND first_seen >= @since";
    this.q = {
      bans: db.prepare<Record<string, unknown>, BanRow>(`SELECT * FROM bans WHERE id > @after AND ${inForce} AND ${filters} ORDER BY id LIMIT @limit`),
      // In the order of the keys' text along the open bans' prefix index, from one
      // lower bound (@from: the network's first key, or the cursor's key past it).
      // By id, a network holding no ban read every ban in force (80 ms at a million).
      bansIn: db.prepare<Record<string, unknown>, BanRow>(
        `SELECT * FROM bans INDEXED BY bans_open WHERE prefix > @from AND prefix < @hi AND ${inForce} AND ${filters} ORDER BY prefix LIMIT @limit`,
      ),
      prefixOf: db.prepare<[number], { prefix: string }>("SELECT prefix FROM bans WHERE id = ?"),
      changes: db.prepare<[number], EventRow>("SELECT * FROM events WHERE kind IN ('ban', 'unban') ORDER BY id DESC LIMIT ?"),
      events: db.prepare<Record<string, unknown>, EventRow>(
        "SELECT * FROM events WHERE id < @before AND (@kind IS NULL OR kind = @kind) AND (@prefix IS NULL OR prefix = @prefix) ORDER BY id DESC LIMIT @limit",
      ),
    };
  }

  /**
   * A page of bans in force, oldest id first (inside `within`: in the order
   * of the keys' text, "198.51.100.200/32" before "198.51.100.30/32"); `next`
   * is the cursor of the following page (null: the end).
   */
  bans(f: BanFilter, now = Date.now()): { rows: BanRow[]; next: number | null } {
    const params = { after: f.after, limit: f.limit, source: f.source ?? null, since: f.since ?? 0, now };
    if (!f.within) {
      const rows = this.q.bans.all(params);
      return { rows, next: rows.length === f.limit ? (rows[rows.length - 1]?.id ?? null) : null };
    }
    // Keys sort as text: the range holds every ban inside the network, and some beside it.
    const net = f.within;
    // No key equals `lo` (keys end in "/length"): "past lo" is "from lo on".
    const lo = textPrefix(net);
    const cursor = f.after > 0 ? this.q.prefixOf.get(f.after)?.prefix : undefined;
    // Its row pruned meanwhile (history_days): starting over would repeat pages.
    if (f.after > 0 && cursor === undefined) throw new BadRequest(`after=${f.after}: no such ban any more; list again from the start`);
    const from = cursor !== undefined && cursor > lo ? cursor : lo;
    const scanned = this.q.bansIn.all({ ...params, from, hi: lo + "\uffff" });
    const rows = scanned.filter((r) => {
      const p = parsePrefix(r.prefix);
      return p.family === net.family && p.length >= net.length && overlaps(p, net);
    });
    return { rows, next: scanned.length === f.limit ? (scanned[scanned.length - 1]?.id ?? null) : null };
  }

  /** A page of events, newest first, before the id `before`. */
  /** The newest bans and unbans, newest first. */
  changes(limit: number): EventRow[] {
    return this.q.changes.all(limit);
  }

  events(f: { before: number; limit: number; kind?: string; prefix?: string }): { rows: EventRow[]; next: number | null } {
    const rows = this.q.events.all({ before: f.before, limit: f.limit, kind: f.kind ?? null, prefix: f.prefix ?? null });
    return { rows, next: rows.length === f.limit ? (rows[rows.length - 1]?.id ?? null) : null };
  }
}
