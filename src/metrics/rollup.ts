import type Database from "better-sqlite3";

const MINUTE_MS = 60_000;
/** The charts show a day; a month is kept for a longer look through the API. */
const KEEP_MS = 30 * 86_400_000;

export interface MinuteRow {
  minute: number;
  bans: number;
  unbans: number;
  hits: number;
  active: number;
}

/**
 * Bans, unbans and hits per minute (and hits per trap port), counted in
 * memory and written to the store once a minute: what the dashboard plots,
 * kept across restarts. A minute's row is added to, never replaced, so a
 * restart within a minute loses nothing that was written.
 */
export class Rollup {
  private minute = floorMinute(Date.now());
  private current = { bans: 0, unbans: 0, hits: 0 };
  private ports = new Map<number, number>();
  private readonly q;

  constructor(
    db: Database.Database,
    /** Bans in force now, for the minute's "active" column. */
    private readonly active: () => number,
    /** A minute that could not be written (a full disk): its counts are dropped, counting goes on. */
    private readonly onError: (e: Error) => void = () => undefined,
    private readonly onWritten: () => void = () => undefined,
  ) {
    this.q = {
      write: db.prepare(
        "INSERT INTO rollup_minute (minute, bans, unbans, hits, active) VALUES (@minute, @bans, @unbans, @hits, @active) " +
          "ON CONFLICT (minute) DO UPDATE SET bans = bans + excluded.bans, unbans = unbans + excluded.unbans, hits = hits + excluded.hits, active = excluded.active",
      ),
      writePort: db.prepare(
        "INSERT INTO rollup_port (minute, port, hits) VALUES (?, ?, ?) ON CONFLICT (minute, port) DO UPDATE SET hits = hits + excluded.hits",
      ),
      prune: db.prepare("DELETE FROM rollup_minute WHERE minute < ?"),
      prunePorts: db.prepare("DELETE FROM rollup_port WHERE minute < ?"),
      since: db.prepare<[number], MinuteRow>("SELECT minute, bans, unbans, hits, active FROM rollup_minute WHERE minute >= ? ORDER BY minute"),
      topPorts: db.prepare<[number], { port: number; hits: number }>(
        "SELECT port, sum(hits) AS hits FROM rollup_port WHERE minute >= ? GROUP BY port",
      ),
    };
    this.writeMinute = db.transaction((minute: number, c: { bans: number; unbans: number; hits: number }, ports: Map<number, number>) => {
      this.q.write.run({ minute, ...c, active: this.active() });
      for (const [port, hits] of ports) this.q.writePort.run(minute, port, hits);
      this.q.prune.run(minute - KEEP_MS);
      this.q.prunePorts.run(minute - KEEP_MS);
    });
  }

  private readonly writeMinute: (minute: number, c: { bans: number; unbans: number; hits: number }, ports: Map<number, number>) => void;

  ban(): void {
    this.roll();
    this.current.bans++;
  }

  unban(): void {
    this.roll();
    this.current.unbans++;
  }

  hit(port: number | undefined, count: number): void {
    this.roll();
    this.current.hits += count;
    if (port) this.ports.set(port, (this.ports.get(port) ?? 0) + count);
  }

  /** Write the minute that ended, if one did (a timer calls this every few seconds, and every count). */
  roll(now = Date.now()): void {
    const minute = floorMinute(now);
    if (minute === this.minute) return;
    // Never throws: it runs on the way of every hit and ban, which must not stop for the history.
    try {
      this.flush();
      this.onWritten();
    } catch (e) {
      this.current = { bans: 0, unbans: 0, hits: 0 };
      this.ports = new Map();
      this.onError(e instanceof Error ? e : new Error(String(e)));
    }
    this.minute = minute;
  }

  /** Write what the current minute has so far (at stop, and when it ends). */
  flush(): void {
    this.writeMinute(this.minute, this.current, this.ports);
    this.current = { bans: 0, unbans: 0, hits: 0 };
    this.ports = new Map();
  }

  /** The minutes since `since`, the current one included (not yet written). */
  minutes(since: number): MinuteRow[] {
    const rows = this.q.since.all(floorMinute(since)).filter((r) => r.minute !== this.minute);
    return [...rows, { minute: this.minute, ...this.current, active: this.active() }];
  }

  /** The trap ports hit most since `since`, the current minute included. */
  topPorts(since: number): { port: number; hits: number }[] {
    const total = new Map<number, number>();
    for (const r of this.q.topPorts.all(floorMinute(since))) total.set(r.port, r.hits);
    for (const [port, hits] of this.ports) total.set(port, (total.get(port) ?? 0) + hits);
    return [...total].map(([port, hits]) => ({ port, hits })).sort((a, b) => b.hits - a.hits || a.port - b.port).slice(0, 10);
  }
}

const floorMinute = (ms: number): number => ms - (ms % MINUTE_MS);
