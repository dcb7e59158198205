import type Database from "better-sqlite3";

const MINUTE_MS = 60_000;
/** The top ports any view shows at most. */
const TOP_PORTS = 10;

export const floorMinute = (ms: number): number => ms - (ms % MINUTE_MS);

/** One minute of the history (ms since the epoch of its start). */
export interface MinuteRow {
  minute: number;
  bans: number;
  unbans: number;
  /** Connections to trap ports (never a manual, API, peer, feed or imported ban). */
  hits: number;
  /** Bans in force after the minute's last change (the current minute: now). */
  active: number;
}

/** What happened since a time: the one answer the dashboard, /api/stats, `stats` and `top` read. */
export interface Activity {
  minutes: MinuteRow[];
  bans: number;
  unbans: number;
  hits: number;
  top_ports: { port: number; hits: number }[];
}

type Column = "bans" | "unbans" | "hits";

/**
 * The counts of one store transaction, written once at its end: a batch of a
 * thousand hits costs a few writes, not one per hit.
 */
export class MinuteTally {
  readonly minutes = new Map<number, Record<Column, number>>();
  /** minute -> port -> hits. */
  readonly ports = new Map<number, Map<number, number>>();

  add(at: number, column: Column, n: number, port?: number | null): void {
    if (n <= 0) return;
    const minute = floorMinute(at);
    const row = this.minutes.get(minute) ?? { bans: 0, unbans: 0, hits: 0 };
    row[column] += n;
    this.minutes.set(minute, row);
    if (column === "hits" && port) {
      const ports = this.ports.get(minute) ?? new Map<number, number>();
      ports.set(port, (ports.get(port) ?? 0) + n);
      this.ports.set(minute, ports);
    }
  }
}

/**
 * Bans, unbans and hits per minute (and hits per trap port), written by the
 * store in the same transaction as the change it counts, whoever makes it
 * (the daemon with or without [http], `iblock import`, a feed): a count can
 * neither be lost in a crash nor differ between two readers.
 */
export class MinuteHistory {
  private readonly read;
  private writes:
    | { minute: Database.Statement<[number, number, number, number]>; port: Database.Statement<[number, number, number]>; prune: Database.Statement<[number]>; prunePorts: Database.Statement<[number]> }
    | undefined;

  constructor(private readonly db: Database.Database) {
    this.read = {
      since: db.prepare<[number], MinuteRow>("SELECT minute, bans, unbans, hits, active FROM rollup_minute WHERE minute >= ? ORDER BY minute"),
      topPorts: db.prepare<[number, number], { port: number; hits: number }>(
        "SELECT port, sum(hits) AS hits FROM rollup_port WHERE minute >= ? GROUP BY port ORDER BY hits DESC, port LIMIT ?",
      ),
    };
  }

  // Prepared when first needed: a reader (munin, stats) never writes.
  private statements(): NonNullable<MinuteHistory["writes"]> {
    return (this.writes ??= {
      // `active`: the kept count of open bans, which the same transaction has brought up to date.
      minute: this.db.prepare(
        "INSERT INTO rollup_minute (minute, bans, unbans, hits, active) VALUES (?, ?, ?, ?, (SELECT n FROM open_ban_count)) " +
          "ON CONFLICT (minute) DO UPDATE SET bans = bans + excluded.bans, unbans = unbans + excluded.unbans, hits = hits + excluded.hits, active = excluded.active",
      ),
      port: this.db.prepare("INSERT INTO rollup_port (minute, port, hits) VALUES (?, ?, ?) ON CONFLICT (minute, port) DO UPDATE SET hits = hits + excluded.hits"),
      prune: this.db.prepare("DELETE FROM rollup_minute WHERE minute < ?"),
      prunePorts: this.db.prepare("DELETE FROM rollup_port WHERE minute < ?"),
    });
  }

  /** Within the caller's transaction. */
  write(tally: MinuteTally): void {
    if (tally.minutes.size === 0) return;
    const w = this.statements();
    for (const [minute, c] of tally.minutes) w.minute.run(minute, c.bans, c.unbans, c.hits);
    for (const [minute, ports] of tally.ports) for (const [port, hits] of ports) w.port.run(minute, port, hits);
  }

  prune(before: number): void {
    const w = this.statements();
    w.prune.run(floorMinute(before));
    w.prunePorts.run(floorMinute(before));
  }

  /**
   * The minutes from the one holding `since` on, the current one always
   * there with `active` the bans in force now (a chart has its point at once).
   */
  since(since: number, now: number, activeNow: number): Activity {
    const current = floorMinute(now);
    const rows = this.read.since.all(floorMinute(since)).filter((r) => r.minute <= current);
    const last = rows.at(-1);
    if (last?.minute === current) last.active = activeNow;
    else rows.push({ minute: current, bans: 0, unbans: 0, hits: 0, active: activeNow });
    let bans = 0;
    let unbans = 0;
    let hits = 0;
    for (const r of rows) {
      bans += r.bans;
      unbans += r.unbans;
      hits += r.hits;
    }
    return { minutes: rows, bans, unbans, hits, top_ports: this.read.topPorts.all(floorMinute(since), TOP_PORTS) };
  }
}
