import type Database from "better-sqlite3";

/** A ban or an unban, as the events table has it. */
export interface RecentEvent {
  at: number;
  prefix: string;
  kind: "ban" | "unban";
  port: number | null;
  /** ban: its reason or source; unban: why it ended. */
  detail: string | null;
}

/**
 * The latest bans and unbans, from the events table, bounded by a LIMIT on the
 * rowid: it costs the same at a million bans as at ten (`iblock top`). The
 * counts come from Store.activity.
 */
export class RecentEvents {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      latest: db.prepare<[number], RecentEvent>(
        "SELECT at, prefix, kind, port, detail FROM events WHERE kind IN ('ban', 'unban') ORDER BY id DESC LIMIT ?",
      ),
    };
  }

  /** The newest bans and unbans, newest first. */
  latest(limit = 10): RecentEvent[] {
    return this.q.latest.all(limit);
  }
}
