import type Database from "better-sqlite3";
import type { Store } from "../store/store.js";

/** A feed's row: what it gave last time and how its fetches went. */
export interface FeedRow {
  name: string;
  etag: string | null;
  last_modified: string | null;
  last_fetch: number | null;
  last_success: number | null;
  status: string | null;
  entries: number;
  refused: string | null;
  held_entries: number | null;
  held_digest: string | null;
  held_since: number | null;
}

export type FeedUpdate = Partial<Omit<FeedRow, "name">>;

const FIELDS = ["etag", "last_modified", "last_fetch", "last_success", "status", "entries", "refused", "held_entries", "held_digest", "held_since"] as const;

/** The ban source of a feed's bans. */
export const feedSource = (name: string): string => `feed:${name}`;

/**
 * The feeds' tables (schema.ts): each feed's entries as applied last, kept so
 * the next list is applied as a diff. Ends only bans whose source is the feed
 * itself: a trap's or a person's ban of the same address is theirs.
 */
export class FeedStore {
  private readonly q;
  private readonly db: Database.Database;

  /** Its own tables through the store's database; bans end through the store. */
  constructor(private readonly store: Store) {
    const db = store.database;
    this.db = db;
    this.q = {
      get: db.prepare<[string], FeedRow>("SELECT * FROM feeds WHERE name = ?"),
      all: db.prepare<[], FeedRow>("SELECT * FROM feeds ORDER BY name"),
      ensure: db.prepare("INSERT INTO feeds (name) VALUES (?) ON CONFLICT (name) DO NOTHING"),
      keys: db.prepare<[string], { prefix: string }>("SELECT prefix FROM feed_entries WHERE feed = ?"),
      add: db.prepare("INSERT INTO feed_entries (feed, prefix) VALUES (?, ?) ON CONFLICT DO NOTHING"),
      remove: db.prepare("DELETE FROM feed_entries WHERE feed = ? AND prefix = ?"),
      otherHolder: db.prepare<[string, string], { feed: string }>("SELECT feed FROM feed_entries WHERE prefix = ? AND feed <> ? ORDER BY feed LIMIT 1"),
      holders: db.prepare<[string], { feed: string }>("SELECT feed FROM feed_entries WHERE prefix = ? ORDER BY feed"),
      // Entries without a ban in force on exactly their prefix: a trap ban that
      // expired meanwhile, an admin's unban, a crash between the two writes.
      gaps: db.prepare<[string, number, number], { prefix: string }>(
        "SELECT e.prefix FROM feed_entries e WHERE e.feed = ? AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.prefix = e.prefix AND b.ended_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > ?)) LIMIT ?",
      ),
      forget: db.prepare("DELETE FROM feeds WHERE name = ?"),
      forgetEntries: db.prepare("DELETE FROM feed_entries WHERE feed = ?"),
    };
  }

  get(name: string): FeedRow | undefined {
    return this.q.get.get(name);
  }

  all(): FeedRow[] {
    return this.q.all.all();
  }

  update(name: string, fields: FeedUpdate): void {
    this.q.ensure.run(name);
    const set = FIELDS.filter((f) => fields[f] !== undefined);
    if (set.length === 0) return;
    const values = Object.fromEntries(set.map((f) => [f, fields[f]]));
    const sql = `UPDATE feeds SET ${set.map((f) => `${f} = @${f}`).join(", ")} WHERE name = @name`;
    // One statement per set of fields, prepared once: the daemon runs feeds for months.
    let stmt = this.updates.get(sql);
    if (!stmt) this.updates.set(sql, (stmt = this.db.prepare(sql)));
    stmt.run({ ...values, name });
  }

  private readonly updates = new Map<string, Database.Statement>();

  /** The keys the feed gave last time (at most its max_entries). */
  keys(name: string): Set<string> {
    const keys = new Set<string>();
    for (const r of this.q.keys.iterate(name)) keys.add(r.prefix);
    return keys;
  }

  addEntries(name: string, keys: readonly string[]): void {
    this.db.transaction(() => {
      for (const k of keys) this.q.add.run(name, k);
    })();
  }

  /**
   * Forget entries the feed no longer lists and end the feed's own bans of
   * them, in one transaction. A prefix another feed still lists is handed to
   * that feed instead. Returns the keys whose bans ended.
   */
  dropEntries(name: string, keys: readonly string[], reason: string, at = Date.now()): string[] {
    const source = feedSource(name);
    return this.db.transaction(() => {
      const ended: string[] = [];
      for (const k of keys) {
        this.q.remove.run(name, k);
        const other = this.q.otherHolder.get(k, name);
        if (other) {
          this.store.handOverBan(k, source, feedSource(other.feed));
          continue;
        }
        if (this.store.endHeldBan(k, source, { kind: "feed", reason }, at)) ended.push(k);
      }
      return ended;
    })();
  }

  /** Up to `limit` of the feed's entries with no ban in force on them. */
  gaps(name: string, limit: number, at = Date.now()): string[] {
    return this.q.gaps.all(name, at, limit).map((r) => r.prefix);
  }

  /** The feeds listing `key`. */
  holders(key: string): string[] {
    return this.q.holders.all(key).map((r) => r.feed);
  }

  /** A feed gone from the config, its bans already ended. */
  forget(name: string): void {
    this.db.transaction(() => {
      this.q.forgetEntries.run(name);
      this.q.forget.run(name);
    })();
  }
}
