import type Database from "better-sqlite3";

/** A ban in force as a restore needs it: what is banned, and until when. */
export interface RestoreRow {
  id: number;
  prefix: string;
  expires_at: number | null;
}

/**
 * The bans in force a page at a time, in the order of their ids (a range of
 * the primary key: a page costs the same at the end of a million as at the
 * start). Only the columns a restore needs: reading every column of a million
 * rows took the daemon about three times the CPU (4 s against 1.3 s), CPU that
 * nft, parsing the pages before, wants on the same machine.
 */
export function* restorePages(db: Database.Database, pageSize: number, at = Date.now()): Generator<RestoreRow[]> {
  // In force as Store's own queries say it.
  const page = db.prepare<[number, number, number], RestoreRow>(
    "SELECT id, prefix, expires_at FROM bans WHERE id > ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY id LIMIT ?",
  );
  let after = 0;
  for (;;) {
    const rows = page.all(after, at, pageSize);
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]?.id ?? after;
    if (rows.length < pageSize) return;
  }
}
