import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "./sqlite.js";
import { prefixKey, type Prefix } from "../net/address.js";
import { HitRecorder, type HitPolicy, type PastBans } from "./hit-recorder.js";
import { MinuteHistory, MinuteTally, type Activity } from "./history.js";
import { Importer } from "./importer.js";
import { BanLookups, IN_FORCE_SQL } from "./lookups.js";
import { restorePageReader, type RestoreRow } from "./restore-pages.js";
import { COUNT_OPEN_SQL, OpenCount } from "./open-count.js";
import type { BanRow, Ending, History, HitGroup, ImportedBan, ImportEntry, Stats } from "./rows.js";
import { storedPrefix } from "./rows.js";
import { BANS_OF_PREFIX_SQL, MIGRATIONS } from "./schema.js";

export * from "./rows.js";
export type { HitDecision, HitFacts, HitPolicy, PastBans } from "./hit-recorder.js";

const DAY_MS = 86_400_000;

/** The source of truth: every ban and what led to it. The firewall is re-synced from here. */
export class Store {
  private readonly db: Database.Database;
  private readonly q;
  private readonly openCount: OpenCount;
  private readonly lookups: BanLookups;
  // Made when first needed: their statements name columns a reader's store may predate.
  private recorderMade: HitRecorder | undefined;
  private importerMade: Importer | undefined;
  /** Bans, unbans and hits per minute: every count shown anywhere comes from here. */
  private readonly minutes: MinuteHistory;

  /** `readonly` for readers without write access (munin): no migration, no new file. */
  constructor(file: string, opts: { readonly?: boolean } = {}) {
    if (opts.readonly) {
      this.db = openDatabase(file, { readonly: true, fileMustExist: true });
    } else {
      // World-readable like a published blocklist, so munin and exports need no root.
      if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
      this.db = openDatabase(file);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      // 64 MB of pages (default 2 MB): a million bans' indexes stay in memory,
      // so a bulk import does not read each index page back once per transaction.
      this.db.pragma("cache_size = -65536");
      // Statement journals in memory: a statement of many rows (the bulk
      // import's) copies each page it first changes into one, and on disk
      // that was a write() each: 350,000 of them for a million bans. Our
      // other temporary b-trees (a GROUP BY's groups) are small.
      this.db.pragma("temp_store = MEMORY");
      this.migrate();
    }
    this.db.pragma("busy_timeout = 5000");
    const db = this.db;
    // A reader (munin) may open a store the daemon has not upgraded yet: it counts the indexes.
    const kept = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'open_ban_count'").get() !== undefined;
    const openCount = kept ? "(SELECT n FROM open_ban_count)" : `(${COUNT_OPEN_SQL})`;
    this.minutes = new MinuteHistory(db);
    this.openCount = new OpenCount(db);
    this.lookups = new BanLookups(db);
    this.q = {
      lastBan: db.prepare<[{ prefix: string }], BanRow>(`SELECT * FROM ${BANS_OF_PREFIX_SQL} ORDER BY id DESC LIMIT 1`),
      page: db.prepare<[number, number, number], BanRow>(`SELECT * FROM bans WHERE id > ? AND ${IN_FORCE_SQL} ORDER BY id LIMIT ?`),
      // Open bans (a kept count) less the open ones whose time is up (an index
      // range: the expiry sweep closes them within a second while the daemon runs).
      countActive: db.prepare<[number], { n: number }>(
        `SELECT ${openCount} - (SELECT count(*) FROM bans INDEXED BY bans_expires WHERE ended_at IS NULL AND expires_at <= ?) AS n`,
      ),
      history: db.prepare<[{ prefix: string }], BanRow>(`SELECT * FROM ${BANS_OF_PREFIX_SQL} ORDER BY id`),
      historyPorts: db.prepare<[string], { port: number; hits: number }>(
        "SELECT port, sum(count) AS hits FROM events WHERE prefix = ? AND kind = 'hit' AND port > 0 GROUP BY port ORDER BY hits DESC",
      ),
      historyHits: db.prepare<[string], { n: number | null; first: number | null; last: number | null }>(
        "SELECT sum(count) AS n, min(at) AS first, max(at) AS last FROM events WHERE prefix = ? AND kind = 'hit'",
      ),
    };
  }

  // The writes, prepared when first needed: a reader's store may predate the columns they name.
  private writesMade: ReturnType<Store["prepareWrites"]> | undefined;
  private get w(): ReturnType<Store["prepareWrites"]> {
    return (this.writesMade ??= this.prepareWrites());
  }

  private prepareWrites() {
    const db = this.db;
    return {
      event: db.prepare("INSERT INTO events (at, prefix, kind, port, count, detail) VALUES (?, ?, ?, ?, ?, ?)"),
      end: db.prepare("UPDATE bans SET ended_at = ?, end_kind = ?, end_reason = ? WHERE prefix = ? AND ended_at IS NULL"),
      endHeld: db.prepare("UPDATE bans SET ended_at = ?, end_kind = ?, end_reason = ? WHERE prefix = ? AND ended_at IS NULL AND source = ?"),
      // INDEXED BY: left to itself the planner walked an index of every ban in
      // force (65 ms at a million, paid by each expiry sweep and import batch).
      endExpired: db.prepare<[number, number], BanRow>(
        "UPDATE bans SET ended_at = expires_at, end_reason = 'expired', end_kind = 'expired' WHERE id IN (SELECT id FROM bans INDEXED BY bans_expires WHERE ended_at IS NULL AND expires_at <= ? LIMIT ?) RETURNING *",
      ),
      handOver: db.prepare("UPDATE bans SET source = ? WHERE prefix = ? AND ended_at IS NULL AND source = ?"),
      pruneEvents: db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? LIMIT ?)"),
      pruneBans: db.prepare("DELETE FROM bans WHERE id IN (SELECT id FROM bans WHERE ended_at IS NOT NULL AND ended_at < ? LIMIT ?)"),
    };
  }

  private get recorder(): HitRecorder {
    return (this.recorderMade ??= new HitRecorder(this.db, this.lookups, this.openCount));
  }

  private get importer(): Importer {
    return (this.importerMade ??= new Importer(this.db, this.lookups));
  }

  /**
   * Make the count of open bans exact again (the daemon, at start): 20 ms at a
   * million. The bans made per minute are not recounted (200 ms for a million
   * made in the last day): `stats` asks only about the last day, so a count
   * changed behind the store's back is gone within a day.
   */
  recountOpen(): void {
    this.openCount.recount();
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`store schema version ${version} is newer than this iblock knows (${MIGRATIONS.length}); upgrade iblock`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] ?? "");
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /**
   * Record a batch of hits in one transaction and apply what `policy` (the
   * ban rules, src/bans/rules.ts) decides for each prefix. Returns the bans
   * made or changed; hits on a ban in force only count.
   */
  recordHits(groups: readonly HitGroup[], policy: HitPolicy): BanRow[] {
    return this.db.transaction(() => {
      const tally = new MinuteTally();
      const created = this.recorder.record(groups, policy, tally);
      this.minutes.write(tally);
      return created;
    })();
  }

  /** The bans of `prefix` so far by source and ending: what the rules count offences from. */
  pastBans(prefix: Prefix): PastBans[] {
    return this.recorder.pastBans(prefixKey(prefix));
  }

  /**
   * The ban in force on a wider network that holds `p` (a /24 made by
   * aggregation, a CIDR banned by hand), the longest-lasting when there are
   * several.
   */
  coveringBan(p: Prefix, at = Date.now()): BanRow | undefined {
    return this.lookups.covering(p, at);
  }

  /**
   * Many bans at once (`iblock import`, feeds, a fleet's snapshot): in one
   * transaction (see Importer). Returns the new bans.
   */
  importBans(entries: readonly (Prefix | ImportEntry)[], opts: { source: string; reason: string | null; durationMs: number }, at = Date.now()): ImportedBan[] {
    const expires_at = opts.durationMs === Infinity ? null : at + opts.durationMs;
    return this.db.transaction(() => {
      // An expired ban not yet closed would block the new one (one open ban per prefix).
      for (let closed = this.w.endExpired.all(at, 10_000).length; closed > 0; closed = this.w.endExpired.all(at, 10_000).length) {
        this.openCount.add(-closed);
      }
      const created = this.importer.insert(entries, { source: opts.source, reason: opts.reason, expires_at }, at);
      this.openCount.add(created.length);
      const tally = new MinuteTally();
      tally.add(at, "bans", created.length);
      this.minutes.write(tally);
      return created;
    })();
  }

  /** Within the caller's transaction: `n` bans ended at `at`, in the per-minute history. */
  private countUnbans(at: number, n: number): void {
    const tally = new MinuteTally();
    tally.add(at, "unbans", n);
    this.minutes.write(tally);
  }

  /** End the ban in force on `prefix`. False when there was none. */
  endBan(prefix: Prefix, ending: Ending, at = Date.now()): boolean {
    const key = prefixKey(prefix);
    return this.db.transaction(() => {
      const changed = this.w.end.run(at, ending.kind, ending.reason, key).changes > 0;
      if (changed) {
        this.openCount.add(-1);
        this.w.event.run(at, key, "unban", null, 1, ending.reason);
        this.countUnbans(at, 1);
      }
      return changed;
    })();
  }

  /**
   * End the ban in force on `key` only while `source` holds it (a feed dropping
   * an entry). Joins the caller's transaction when there is one.
   */
  endHeldBan(key: string, source: string, ending: Ending, at = Date.now()): boolean {
    const end = (): boolean => {
      if (this.w.endHeld.run(at, ending.kind, ending.reason, key, source).changes === 0) return false;
      this.openCount.add(-1);
      this.w.event.run(at, key, "unban", null, 1, ending.reason);
      this.countUnbans(at, 1);
      return true;
    };
    return this.db.inTransaction ? end() : this.db.transaction(end)();
  }

  /** The ban in force on `key`, held by `from`, is held by `to` from now on (a feed dropping an entry another feed still lists). */
  handOverBan(key: string, from: string, to: string): void {
    this.w.handOver.run(to, key, from);
  }

  /** Close (at most `limit` of) the bans whose time is up; they stay as history. */
  endExpired(at = Date.now(), limit = 2_000): BanRow[] {
    return this.db.transaction(() => {
      const rows = this.w.endExpired.all(at, limit);
      this.openCount.add(-rows.length);
      for (const r of rows) this.w.event.run(at, r.prefix, "unban", null, 1, "expired");
      this.countUnbans(at, rows.length);
      return rows;
    })();
  }

  isBanned(prefix: Prefix, at = Date.now()): boolean {
    return this.openBan(prefix, at) !== undefined;
  }

  /** The latest ban of `prefix`, in force or not. */
  lastBan(prefix: Prefix): BanRow | undefined {
    return this.q.lastBan.get({ prefix: prefixKey(prefix) });
  }

  /** Bans in force inside the network `net` (its own ban included). */
  activeWithin(net: Prefix, at = Date.now()): BanRow[] {
    return this.lookups.within(net, at);
  }

  /** Bans in force that overlap `net`: inside it, or wider and holding it. */
  activeOverlapping(net: Prefix, at = Date.now()): BanRow[] {
    return this.lookups.overlapping(net, at);
  }

  /**
   * The bans in force, a page at a time (by id, so a page costs the same at
   * the end of a million as at the start): memory holds one page, never all.
   */
  /** The bans in force a page at a time, with only what a restore needs (restore-pages.ts). */
  restorePages(pageSize: number, at = Date.now()): Generator<RestoreRow[]> {
    this.restoreReader ??= restorePageReader(this.db);
    return this.restoreReader(pageSize, at);
  }

  private restoreReader: ReturnType<typeof restorePageReader> | undefined;

  *activePages(pageSize = 10_000, at = Date.now()): Generator<BanRow[]> {
    let after = 0;
    for (;;) {
      const rows = this.q.page.all(after, at, pageSize);
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1]?.id ?? after;
      if (rows.length < pageSize) return;
    }
  }

  /**
   * Bans in force for `iblock list`/`export`, one row at a time, oldest first,
   * in the order of an index: the first row comes without sorting a million.
   */
  *iterateActive(opts: { since?: number; limit?: number } = {}, at = Date.now()): Generator<BanRow> {
    const stmt = this.db.prepare<[number, number, number], BanRow>(
      "SELECT * FROM bans INDEXED BY bans_first_seen WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND first_seen >= ? ORDER BY first_seen LIMIT ?",
    );
    yield* stmt.iterate(at, opts.since ?? 0, opts.limit ?? -1);
  }

  history(prefix: Prefix): History {
    const key = prefixKey(prefix);
    const h = this.q.historyHits.get(key);
    return {
      bans: this.q.history.all({ prefix: key }),
      hits: h?.n ?? 0,
      ports: this.q.historyPorts.all(key),
      first_seen: h?.first ?? null,
      last_seen: h?.last ?? null,
    };
  }

  /**
   * What happened since `since` (minute by minute, from the minute holding it):
   * the one source of every count the dashboard, /api/stats, `stats` and `top` show.
   */
  activity(since: number, at = Date.now()): Activity {
    return this.minutes.since(since, at, this.countActive(at));
  }

  /** The last day's counts and the bans in force now. */
  stats(at = Date.now()): Stats {
    const day = this.activity(at - DAY_MS, at);
    const last = day.minutes.at(-1);
    return { active: last?.active ?? 0, bans_last_24h: day.bans, hits_last_24h: day.hits, top_ports: day.top_ports };
  }

  /**
   * Forget (at most `limit` each of) events and ended bans older than
   * `before`: the store stays bounded. Called again until it returns zeros,
   * so no single call holds the event loop or the database for long.
   */
  prune(before: number, limit = 5_000): { events: number; bans: number } {
    return this.db.transaction(() => {
      // The per-minute history goes with the events it counts (history_days, a day at least).
      this.minutes.prune(before);
      return { events: this.w.pruneEvents.run(before, limit).changes, bans: this.w.pruneBans.run(before, limit).changes };
    })();
  }

  /** The ban in force on exactly `prefix`, if any. */
  openBan(prefix: Prefix, at = Date.now()): BanRow | undefined {
    return this.lookups.openBan(prefixKey(prefix), at);
  }

  /** Every wider ban in force that holds `p`. */
  widerBans(p: Prefix, at = Date.now()): BanRow[] {
    return this.lookups.wider(p, at);
  }

  /** The bans in force of one source. */
  inForceOf(source: string, at = Date.now()): Prefix[] {
    return this.lookups.ofSource(source, at).map(storedPrefix);
  }

  /** How many bans are in force. */
  countActive(at = Date.now()): number {
    return this.q.countActive.get(at)?.n ?? 0;
  }

  /** The database itself, for the parts with tables or queries of their own (src/store/recent-events.ts, src/feeds, src/http, src/metrics, src/cluster): their statements live there. */
  get database(): Database.Database {
    return this.db;
  }

  /** A fact the daemon keeps between runs (see the settings table); undefined when never set. */
  setting(key: string): string | undefined {
    const row = this.db.prepare<[string], { value: string }>("SELECT value FROM settings WHERE key = ?").get(key);
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  close(): void {
    this.db.close();
  }
}
