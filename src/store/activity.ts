import type Database from "better-sqlite3";

/** One minute of activity: bans made and hits counted (ms since the epoch of its start). */
export interface MinuteCount {
  minute: number;
  bans: number;
  hits: number;
}

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
 * What happened lately, from the events table: every query is bounded by a
 * time range on its index or by a LIMIT on the rowid, so it costs the same
 * at a million bans as at ten (`iblock top`).
 */
export class Activity {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      perMinute: db.prepare<[number], MinuteCount>(
        "SELECT (at / 60000) * 60000 AS minute, sum(kind = 'ban') AS bans, sum(CASE WHEN kind = 'hit' THEN count ELSE 0 END) AS hits " +
          "FROM events WHERE at >= ? GROUP BY minute ORDER BY minute",
      ),
      topPorts: db.prepare<[number, number], { port: number; hits: number }>(
        "SELECT port, sum(count) AS hits FROM events WHERE kind = 'hit' AND port > 0 AND at >= ? GROUP BY port ORDER BY hits DESC, port LIMIT ?",
      ),
      latest: db.prepare<[number], RecentEvent>(
        "SELECT at, prefix, kind, port, detail FROM events WHERE kind IN ('ban', 'unban') ORDER BY id DESC LIMIT ?",
      ),
    };
  }

  /** Bans and hits per minute since `since` (minutes with neither are left out). */
  perMinute(since: number): MinuteCount[] {
    return this.q.perMinute.all(since);
  }

  topPorts(since: number, limit = 5): { port: number; hits: number }[] {
    return this.q.topPorts.all(since, limit);
  }

  /** The newest bans and unbans, newest first. */
  latest(limit = 10): RecentEvent[] {
    return this.q.latest.all(limit);
  }
}
