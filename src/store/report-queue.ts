import type Database from "better-sqlite3";

/** A ban waiting to be reported. */
export interface QueuedReport {
  prefix: string;
  port: number | null;
  banned_at: number;
  attempts: number;
  next_at: number;
}

/** What `enqueue` did with a batch. */
export interface Enqueued {
  queued: number;
  /** Already waiting, or reported since `sentAfter`. */
  recent: number;
  /** The queue held `max` already. */
  full: number;
}

/**
 * The abuse reports' tables (src/report): what waits to be sent, and what
 * was sent when. Knows no rule: the reporter passes the times and bounds.
 */
export class ReportQueue {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      add: db.prepare<[string, number | null, number, number]>(
        "INSERT INTO report_queue (prefix, port, banned_at, next_at) VALUES (?, ?, ?, ?) ON CONFLICT (prefix) DO NOTHING",
      ),
      sentAfter: db.prepare<[string, number], { n: number }>("SELECT count(*) AS n FROM report_sent WHERE prefix = ? AND at > ?"),
      size: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM report_queue"),
      due: db.prepare<[number], QueuedReport>("SELECT * FROM report_queue WHERE next_at <= ? ORDER BY next_at, banned_at LIMIT 1"),
      nextAt: db.prepare<[], { at: number | null }>("SELECT min(next_at) AS at FROM report_queue"),
      remove: db.prepare<[string]>("DELETE FROM report_queue WHERE prefix = ?"),
      markSent: db.prepare<[string, number]>("INSERT INTO report_sent (prefix, at) VALUES (?, ?)"),
      postpone: db.prepare<[number, string]>("UPDATE report_queue SET attempts = attempts + 1, next_at = ? WHERE prefix = ?"),
      countSent: db.prepare<[number], { n: number }>("SELECT count(*) AS n FROM report_sent WHERE at > ?"),
      oldestSent: db.prepare<[number], { at: number | null }>("SELECT min(at) AS at FROM report_sent WHERE at > ?"),
      forget: db.prepare<[number]>("DELETE FROM report_sent WHERE at <= ?"),
      // Bans in force made since ?, of one address, of the sources given (a JSON list), with no
      // report queued and none sent within `repeat` ms before the ban.
      missed: db.prepare<{ since: number; sources: string; repeat: number }>(
        `INSERT INTO report_queue (prefix, port, banned_at, next_at)
           SELECT prefix, port, first_seen, first_seen FROM bans INDEXED BY bans_first_seen
           WHERE first_seen > @since AND ended_at IS NULL AND source IN (SELECT value FROM json_each(@sources))
             AND (prefix LIKE '%/32' AND instr(prefix, ':') = 0 OR prefix LIKE '%/128')
             AND NOT EXISTS (SELECT 1 FROM report_sent s WHERE s.prefix = bans.prefix AND s.at > bans.first_seen - @repeat)
         ON CONFLICT (prefix) DO NOTHING`,
      ),
    };
  }

  /** One transaction for a batch: a storm's bans cost one commit. */
  enqueue(reports: readonly { prefix: string; port: number | null; at: number }[], sentAfter: number, max: number): Enqueued {
    return this.db.transaction(() => {
      const out: Enqueued = { queued: 0, recent: 0, full: 0 };
      let size = this.q.size.get()?.n ?? 0;
      for (const r of reports) {
        if ((this.q.sentAfter.get(r.prefix, sentAfter)?.n ?? 0) > 0) out.recent++;
        else if (size >= max) out.full++;
        else if (this.q.add.run(r.prefix, r.port, r.at, r.at).changes === 0) out.recent++;
        else {
          out.queued++;
          size++;
        }
      }
      return out;
    })();
  }

  /**
   * Queue the bans made since `since` (of `sources`) that have no report: a
   * daemon killed between a ban and its report's queueing. Returns how many.
   */
  queueMissed(since: number, sources: readonly string[], repeatMs: number): number {
    return this.q.missed.run({ since, sources: JSON.stringify(sources), repeat: repeatMs }).changes;
  }

  /** The report to send first among those due at `now`. */
  due(now: number): QueuedReport | undefined {
    return this.q.due.get(now);
  }

  /** When the next report falls due (ms), or undefined with none waiting. */
  nextDue(): number | undefined {
    return this.q.nextAt.get()?.at ?? undefined;
  }

  /** Whether `prefix` was reported after `after`. */
  reportedAfter(prefix: string, after: number): boolean {
    return (this.q.sentAfter.get(prefix, after)?.n ?? 0) > 0;
  }

  sent(prefix: string, at: number): void {
    this.db.transaction(() => {
      this.q.remove.run(prefix);
      this.q.markSent.run(prefix, at);
    })();
  }

  drop(prefix: string): void {
    this.q.remove.run(prefix);
  }

  /** One more failed attempt; not tried again before `nextAt`. */
  postpone(prefix: string, nextAt: number): void {
    this.q.postpone.run(nextAt, prefix);
  }

  /** Reports sent after `after`, and the first of them (when the count next goes down). */
  sentSince(after: number): { n: number; first: number | undefined } {
    return { n: this.q.countSent.get(after)?.n ?? 0, first: this.q.oldestSent.get(after)?.at ?? undefined };
  }

  /** Sent reports at or before `before` no rule reads any more. */
  forget(before: number): void {
    this.q.forget.run(before);
  }

  size(): number {
    return this.q.size.get()?.n ?? 0;
  }
}
