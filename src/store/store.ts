import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "./sqlite.js";
import ipaddr from "ipaddr.js";
import { overlaps, parsePrefix, prefixKey, widen, type Prefix } from "../net/address.js";
import { banDuration, type BanTimes } from "../policy/duration.js";
import { DEFAULT_BAN_LENGTHS, endsLater, needsOwnBan, type BanLengths } from "../bans/nesting.js";
import type { Config } from "../config.js";
import { BanInserter, type NewBan } from "./ban-inserter.js";
import { MinuteHistory, MinuteTally, type Activity } from "./history.js";
import { ADD_OPEN_SQL, BANS_OF_PREFIX_SQL, FAMILY_SQL, LENGTH_SQL, MIGRATIONS } from "./schema.js";

export interface BanRow {
  id: number;
  prefix: string;
  first_seen: number;
  last_seen: number;
  hits: number;
  port: number | null;
  source: string;
  reason: string | null;
  expires_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
}

/** Hits of one prefix gathered in one batch. */
export interface HitGroup {
  prefix: Prefix;
  /** count per port; port 0 when it is not known (a redirect listener). */
  ports: Map<number, number>;
  source: string;
  reason?: string;
  /** A ban of this length whatever the rules say (`iblock ban --time`). */
  durationMs?: number;
  at: number;
}

/** One ban of an import with its own expiry (ms since the epoch; null permanent), reason or port. */
export interface ImportEntry {
  prefix: Prefix;
  expires_at?: number | null;
  reason?: string | null;
  port?: number | null;
}

/** A ban an import made. */
export interface ImportedBan {
  prefix: Prefix;
  expires_at: number | null;
  reason: string | null;
  port: number | null;
}

/** When hits become a ban, and for how long. */
export interface BanRules {
  /** Hits within windowMs before a ban; 1 bans at the first. */
  threshold: number;
  windowMs: number;
  times: BanTimes;
  /** Bans made on a bare SYN (source "syn"): forgeable, so shorter. */
  synMs: number;
  /** What trap hits are banned as: such a ban may sit inside a wider one. */
  lengths: BanLengths;
}

export const DEFAULT_RULES: BanRules = {
  threshold: 1,
  windowMs: 3_600_000,
  times: { banMs: Infinity, multiplier: 2, maxMs: Infinity },
  synMs: 3_600_000,
  lengths: DEFAULT_BAN_LENGTHS,
};

/**
 * The source of a ban found in the firewall that the store did not know (a
 * kernel ban whose report was lost). Never shared: nothing here proved it.
 */
export const ADOPTED = "adopted";

/**
 * Bans held for someone else or on no proof: a feed's (feed:NAME), a peer's,
 * one found in the firewall. Our own hit or ban takes them over.
 */
const isBorrowed = (source: string): boolean => source === "peer" || source === ADOPTED || source.startsWith("feed:");

/** Sources that are a person's decision: never held back by the threshold. */
const DELIBERATE = new Set(["cli", "api", "aggregate", "peer", "local"]);

/**
 * Sources whose request is a connection to a trap port: a hit. An admin's
 * ban (cli, api, local), a peer's, a feed's, an import or an adopted ban is
 * a decision, not a connection, and counts none. (The migration that rebuilt
 * the history, in schema.ts, names the same four as they were then: a
 * migration never changes, so it keeps its own copy.)
 */
const HIT_SOURCES = new Set(["trap", "kernel", "syn", "inetd"]);
export const isHitSource = (source: string): boolean => HIT_SOURCES.has(source);

export interface Stats {
  active: number;
  bans_last_24h: number;
  hits_last_24h: number;
  top_ports: { port: number; hits: number }[];
}

export interface History {
  bans: BanRow[];
  hits: number;
  ports: { port: number; hits: number }[];
  first_seen: number | null;
  last_seen: number | null;
}

const DAY_MS = 86_400_000;

/** Text every key inside `net` starts with (whole leading octets or groups), for a range scan. */
export function textPrefix(net: Prefix): string {
  if (net.family === 4) return net.address.split(".").slice(0, Math.floor(net.length / 8)).join(".");
  const groups = ipaddr.IPv6.parse(net.address).parts.slice(0, Math.floor(net.length / 16));
  // A zero group may be swallowed by "::" in a key: stop before the first one.
  const zero = groups.indexOf(0);
  return (zero === -1 ? groups : groups.slice(0, zero)).map((g) => g.toString(16)).join(":");
}

/** The open bans counted along an index (the kept count's fallback and check). */
const COUNT_OPEN_SQL = "SELECT count(*) FROM bans INDEXED BY bans_open WHERE ended_at IS NULL";

/** The source of truth: every ban and what led to it. The firewall is re-synced from here. */
export class Store {
  private readonly db: Database.Database;
  private readonly q;
  private readonly inserter: BanInserter;
  /** Bans, unbans and hits per minute: every count shown anywhere comes from here. */
  private readonly minutes: MinuteHistory;
  /** "family/length" of the bans in force (a handful): for covering(). Found when first needed. */
  private lengthsInForce: Set<string> | undefined;

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
    const inForce = "ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)";
    // A reader (munin) may open a store the daemon has not upgraded yet: it counts the indexes.
    const kept = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'open_ban_count'").get() !== undefined;
    const openCount = kept ? "(SELECT n FROM open_ban_count)" : `(${COUNT_OPEN_SQL})`;
    this.minutes = new MinuteHistory(db);
    this.inserter = new BanInserter(db);
    this.q = {
      open: db.prepare<[string, number], BanRow>(`SELECT * FROM bans WHERE prefix = ? AND ${inForce}`),
      insert: db.prepare(
        "INSERT INTO bans (prefix, first_seen, last_seen, hits, port, source, reason, expires_at) VALUES (@prefix, @at, @at, @hits, @port, @source, @reason, @expires_at)",
      ),
      // max(): a kernel report dated by its listener hit may come after later hits.
      bump: db.prepare("UPDATE bans SET hits = hits + @hits, last_seen = max(last_seen, @at), port = COALESCE(port, @port) WHERE id = @id"),
      retime: db.prepare("UPDATE bans SET expires_at = @expires_at, reason = @reason WHERE id = @id"),
      takeOver: db.prepare("UPDATE bans SET source = @source, reason = @reason, expires_at = @expires_at WHERE id = @id"),
      event: db.prepare("INSERT INTO events (at, prefix, kind, port, count, detail) VALUES (?, ?, ?, ?, ?, ?)"),
      end: db.prepare("UPDATE bans SET ended_at = ?, end_reason = ? WHERE prefix = ? AND ended_at IS NULL"),
      endHeld: db.prepare("UPDATE bans SET ended_at = ?, end_reason = ? WHERE prefix = ? AND ended_at IS NULL AND source = ?"),
      // INDEXED BY: left to itself the planner walked an index of every ban in
      // force (65 ms at a million, paid by each expiry sweep and import batch).
      endExpired: db.prepare<[number, number], BanRow>(
        "UPDATE bans SET ended_at = expires_at, end_reason = 'expired' WHERE id IN (SELECT id FROM bans INDEXED BY bans_expires WHERE ended_at IS NULL AND expires_at <= ? LIMIT ?) RETURNING *",
      ),
      hitsSince: db.prepare<[string, number], { n: number | null }>(
        "SELECT sum(count) AS n FROM events WHERE prefix = ? AND kind = 'hit' AND at >= ?",
      ),
      // Offences that escalate: bans that ran their course (or were still open when
      // the source came back); not those an admin lifted, nor those folded into a wider ban.
      previousBans: db.prepare<[{ prefix: string }], { n: number }>(
        // An element found in the firewall (adopted) proves no offence.
        `SELECT count(*) AS n FROM ${BANS_OF_PREFIX_SQL} WHERE (end_reason IS NULL OR end_reason = 'expired') AND source <> '${ADOPTED}'`,
      ),
      lastBan: db.prepare<[{ prefix: string }], BanRow>(`SELECT * FROM ${BANS_OF_PREFIX_SQL} ORDER BY id DESC LIMIT 1`),
      page: db.prepare<[number, number, number], BanRow>(`SELECT * FROM bans WHERE id > ? AND ${inForce} ORDER BY id LIMIT ?`),
      // Open bans (a kept count) less the open ones whose time is up (an index
      // range: the expiry sweep closes them within a second while the daemon runs).
      countActive: db.prepare<[number], { n: number }>(
        `SELECT ${openCount} - (SELECT count(*) FROM bans INDEXED BY bans_expires WHERE ended_at IS NULL AND expires_at <= ?) AS n`,
      ),
      // INDEXED BY, as endExpired: each covered-ban lookup read every ban in force.
      range: db.prepare<[string, string, number], BanRow>(`SELECT * FROM bans INDEXED BY bans_open WHERE prefix >= ? AND prefix < ? AND ${inForce}`),
      history: db.prepare<[{ prefix: string }], BanRow>(`SELECT * FROM ${BANS_OF_PREFIX_SQL} ORDER BY id`),
      historyPorts: db.prepare<[string], { port: number; hits: number }>(
        "SELECT port, sum(count) AS hits FROM events WHERE prefix = ? AND kind = 'hit' AND port > 0 GROUP BY port ORDER BY hits DESC",
      ),
      historyHits: db.prepare<[string], { n: number | null; first: number | null; last: number | null }>(
        "SELECT sum(count) AS n, min(at) AS first, max(at) AS last FROM events WHERE prefix = ? AND kind = 'hit'",
      ),
      pruneEvents: db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? LIMIT ?)"),
      pruneBans: db.prepare("DELETE FROM bans WHERE id IN (SELECT id FROM bans WHERE ended_at IS NOT NULL AND ended_at < ? LIMIT ?)"),
    };
  }

  /** Keep the count of open bans (ADD_OPEN_SQL) in step: `n` were opened (or closed, negative). */
  private opened(n: number): void {
    if (n !== 0) this.countWrites().addOpen.run(n);
  }

  // Prepared when first needed: a reader never writes, and its store may predate the tables.
  private countStatements:
    | { addOpen: Database.Statement<[number]> }
    | undefined;
  private countWrites(): NonNullable<Store["countStatements"]> {
    return (this.countStatements ??= {
      addOpen: this.db.prepare(ADD_OPEN_SQL),
    });
  }

  /**
   * Make the count of open bans exact again (the daemon, at start): 20 ms at a
   * million. The bans made per minute are not recounted (200 ms for a million
   * made in the last day): `stats` asks only about the last day, so a count
   * changed behind the store's back is gone within a day.
   */
  recountOpen(): void {
    this.db.prepare(`UPDATE open_ban_count SET n = (${COUNT_OPEN_SQL})`).run();
  }

  /** One index probe per possible length (162 at most), never a scan of the bans. */
  private get lengths(): Set<string> {
    if (this.lengthsInForce) return this.lengthsInForce;
    const probe = this.db.prepare<[number, number], { one: number }>(
      `SELECT 1 AS one FROM bans WHERE ${FAMILY_SQL} = ? AND ${LENGTH_SQL} = ? AND ended_at IS NULL LIMIT 1`,
    );
    const found = new Set<string>();
    for (const [family, max] of [
      [4, 32],
      [6, 128],
    ] as const) {
      for (let len = 0; len <= max; len++) if (probe.get(family, len)) found.add(`${family}/${len}`);
    }
    this.lengthsInForce = found;
    return found;
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
   * Record a batch of hits in one transaction and decide which become bans:
   * the threshold, and how long (repeat offenders get longer, SYN bans
   * shorter). Returns the new bans; hits on a ban in force only count.
   */
  recordHits(groups: readonly HitGroup[], rules: BanRules = DEFAULT_RULES): BanRow[] {
    return this.db.transaction(() => {
      const created: BanRow[] = [];
      const tally = new MinuteTally();
      for (const g of groups) {
        const key = prefixKey(g.prefix);
        // `hits` decides (a request of its own, or a report of a connection counted already);
        // `counted` is what is recorded as connections to trap ports.
        let hits = 0;
        let counted = 0;
        let firstPort: number | null = null;
        const connection = isHitSource(g.source);
        for (const [port, n] of g.ports) {
          hits += n;
          if (port > 0) firstPort ??= port;
          if (n > 0 && connection) {
            counted += n;
            this.q.event.run(g.at, key, "hit", port > 0 ? port : null, n, g.source);
            tally.add(g.at, "hits", n, port);
          }
        }
        const open = this.q.open.get(key, g.at);
        if (open) {
          this.q.bump.run({ id: open.id, hits: counted, at: g.at, port: firstPort });
          if (isBorrowed(open.source) && !isBorrowed(g.source)) {
            // Our own decision on a ban a feed or a peer holds: it becomes ours, with our
            // length, so the feed dropping the entry or the peer's unban cannot end it.
            // The borrowed ban is no offence of ours: it is not counted (previousBans includes it).
            const nth = Math.max(1, this.q.previousBans.get({ prefix: key })?.n ?? 1);
            const expires_at = g.durationMs !== undefined ? (g.durationMs === Infinity ? null : g.at + g.durationMs) : this.plannedExpiry(g, nth, rules);
            const reason = g.reason ?? null;
            this.q.takeOver.run({ id: open.id, source: g.source, reason, expires_at });
            created.push({ ...open, source: g.source, reason, expires_at, hits: open.hits + counted });
            continue;
          }
          if (g.durationMs !== undefined) {
            // `iblock ban --time` on a ban in force: a new length, applied again.
            const expires_at = g.durationMs === Infinity ? null : g.at + g.durationMs;
            this.q.retime.run({ id: open.id, expires_at, reason: g.reason ?? open.reason });
            created.push({ ...open, expires_at, reason: g.reason ?? open.reason, hits: open.hits + counted });
          }
          continue;
        }
        // No hit of its own (a kernel report of a connection already counted): a ban
        // lifted since that connection stays lifted (`iblock unban` right after a ban).
        if (hits === 0 && this.liftedSince(key, g.at)) continue;
        const nth = (this.q.previousBans.get({ prefix: key })?.n ?? 0) + 1;
        const expires_at = this.plannedExpiry(g, nth, rules);
        const wide = this.coveringBan(g.prefix, g.at);
        // No hit of its own (a late kernel report of a connection already counted): never a new ban inside.
        if (wide && (hits === 0 || !needsOwnBan(g.prefix, expires_at, wide.expires_at, rules.lengths))) {
          // A wider ban lasting at least as long (or one the firewall cannot nest): the hit only counts there.
          this.q.bump.run({ id: wide.id, hits: counted, at: g.at, port: firstPort });
          continue;
        }
        if (rules.threshold > 1 && !DELIBERATE.has(g.source)) {
          const recent = this.q.hitsSince.get(key, g.at - rules.windowMs)?.n ?? 0;
          if (recent < rules.threshold) continue;
          counted = recent;
        }
        // An expired ban still open in the table is closed before the new one starts.
        this.opened(-this.q.end.run(g.at, "expired", key).changes);
        const row = {
          prefix: key,
          at: g.at,
          hits: counted,
          port: firstPort,
          source: g.source,
          reason: g.reason ?? null,
          expires_at,
        };
        const id = Number(this.q.insert.run(row).lastInsertRowid);
        this.opened(1);
        tally.add(g.at, "bans", 1);
        this.lengths.add(`${g.prefix.family}/${g.prefix.length}`);
        this.q.event.run(g.at, key, "ban", firstPort, nth, g.reason ?? g.source);
        created.push({ id, ...row, first_seen: g.at, last_seen: g.at, ended_at: null, end_reason: null });
      }
      this.minutes.write(tally);
      return created;
    })();
  }

  /** The last ban of `key` was ended by someone (not by its time) at or after `at`. */
  private liftedSince(key: string, at: number): boolean {
    const last = this.q.lastBan.get({ prefix: key });
    return last !== undefined && last.ended_at !== null && last.ended_at >= at && last.end_reason !== "expired";
  }

  /** When a new ban from `g` would end: its own length, else SYN bans, else the rules with escalation. */
  private plannedExpiry(g: Pick<HitGroup, "durationMs" | "source" | "at">, nth: number, rules: BanRules): number | null {
    const ms = g.durationMs ?? (g.source === "syn" ? rules.synMs : banDuration(nth, rules.times));
    return ms === Infinity ? null : g.at + ms;
  }

  /** When a ban of `prefix` made now would end (for `iblock ban` to check before it asks). */
  expiryOfNewBan(prefix: Prefix, g: Pick<HitGroup, "durationMs" | "source" | "at">, rules: BanRules): number | null {
    return this.plannedExpiry(g, (this.q.previousBans.get({ prefix: prefixKey(prefix) })?.n ?? 0) + 1, rules);
  }

  /**
   * The ban in force on a wider network that holds `p` (a /24 made by
   * aggregation, a CIDR banned by hand), the longest-lasting when there are
   * several. Only the lengths bans have been made with are looked up.
   */
  coveringBan(p: Prefix, at = Date.now()): BanRow | undefined {
    let best: BanRow | undefined;
    for (const fl of this.lengths) {
      const [family, len] = fl.split("/").map(Number) as [number, number];
      if (family !== p.family || len >= p.length) continue;
      const row = this.q.open.get(prefixKey(widen(p, len)), at);
      if (row && (!best || endsLater(row.expires_at, best.expires_at))) best = row;
    }
    return best;
  }

  /**
   * Many bans at once (`iblock import`, feeds, a fleet's snapshot): in one
   * transaction, 100 rows a statement (BanInserter), no hit events. A prefix with a ban
   * in force, or inside a wider one, is skipped. An entry may carry its own
   * expiry (absolute), reason and port over `opts`. Returns the new bans.
   */
  importBans(entries: readonly (Prefix | ImportEntry)[], opts: { source: string; reason: string | null; durationMs: number }, at = Date.now()): ImportedBan[] {
    const expires_at = opts.durationMs === Infinity ? null : at + opts.durationMs;
    return this.db.transaction(() => {
      // An expired ban not yet closed would block the new one (one open ban per prefix).
      for (let closed = this.q.endExpired.all(at, 10_000).length; closed > 0; closed = this.q.endExpired.all(at, 10_000).length) {
        this.opened(-closed);
      }
      const created: ImportedBan[] = [];
      // The lengths in force (family * 256 + length), and the shortest of each
      // family: most imports add one length (/32s), and a ban can only lie
      // inside a wider one when a shorter length is in force.
      const known = new Set<number>();
      const shortestKnown = { 4: Infinity, 6: Infinity };
      const know = (family: 4 | 6, length: number): void => {
        known.add(family * 256 + length);
        shortestKnown[family] = Math.min(shortestKnown[family], length);
      };
      for (const fl of this.lengths) {
        const [family, length] = fl.split("/").map(Number) as [4 | 6, number];
        know(family, length);
      }
      // Rows go in many a statement. A covering check sees what is written:
      // pending rows that could hold the prefix (shorter, same family) and a
      // new length are written first.
      let pending: (NewBan & { prefix: Prefix })[] = [];
      const pendingKeys = new Set<string>();
      const shortestPending = { 4: Infinity, 6: Infinity };
      const flush = (): void => {
        const made = this.inserter.insert(pending, opts.source, at);
        for (const b of pending) {
          // The pending row itself (an ImportedBan and its key): no copy of each of a million.
          if (made === "all" || made.has(b.key)) created.push(b);
        }
        pending = [];
        pendingKeys.clear();
        shortestPending[4] = shortestPending[6] = Infinity;
      };
      for (const e of entries) {
        const own = "prefix" in e ? e : undefined;
        const p = own ? own.prefix : (e as Prefix);
        if (shortestKnown[p.family] < p.length) {
          if (shortestPending[p.family] < p.length) flush();
          if (this.coveringBan(p, at)) continue;
        }
        const key = prefixKey(p);
        // Given twice: the first one is the ban.
        if (pendingKeys.has(key)) continue;
        pending.push({ key, prefix: p, expires_at: own?.expires_at !== undefined ? own.expires_at : expires_at, reason: own?.reason ?? opts.reason, port: own?.port ?? null });
        pendingKeys.add(key);
        shortestPending[p.family] = Math.min(shortestPending[p.family], p.length);
        if (!known.has(p.family * 256 + p.length)) {
          flush();
          // It is the last row written: made, it brings its length into force.
          if (created.at(-1)?.prefix === p) {
            know(p.family, p.length);
            this.lengths.add(`${p.family}/${p.length}`);
          }
        }
      }
      flush();
      this.opened(created.length);
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
  endBan(prefix: Prefix, reason: string, at = Date.now()): boolean {
    const key = prefixKey(prefix);
    return this.db.transaction(() => {
      const changed = this.q.end.run(at, reason, key).changes > 0;
      if (changed) {
        this.opened(-1);
        this.q.event.run(at, key, "unban", null, 1, reason);
        this.countUnbans(at, 1);
      }
      return changed;
    })();
  }

  /**
   * End the ban in force on `key` only while `source` holds it (a feed dropping
   * an entry). Joins the caller's transaction when there is one.
   */
  endHeldBan(key: string, source: string, reason: string, at = Date.now()): boolean {
    const end = (): boolean => {
      if (this.q.endHeld.run(at, reason, key, source).changes === 0) return false;
      this.opened(-1);
      this.q.event.run(at, key, "unban", null, 1, reason);
      this.countUnbans(at, 1);
      return true;
    };
    return this.db.inTransaction ? end() : this.db.transaction(end)();
  }

  /** Close (at most `limit` of) the bans whose time is up; they stay as history. */
  endExpired(at = Date.now(), limit = 2_000): BanRow[] {
    return this.db.transaction(() => {
      const rows = this.q.endExpired.all(at, limit);
      this.opened(-rows.length);
      for (const r of rows) this.q.event.run(at, r.prefix, "unban", null, 1, "expired");
      this.countUnbans(at, rows.length);
      return rows;
    })();
  }

  isBanned(prefix: Prefix, at = Date.now()): boolean {
    return this.q.open.get(prefixKey(prefix), at) !== undefined;
  }

  /** The latest ban of `prefix`, in force or not. */
  lastBan(prefix: Prefix): BanRow | undefined {
    return this.q.lastBan.get({ prefix: prefixKey(prefix) });
  }

  /** Bans in force inside the network `net` (its own ban included). */
  activeWithin(net: Prefix, at = Date.now()): BanRow[] {
    // Nothing narrower was ever banned: only `net` itself can be there (the common case, cheap).
    if (![...this.lengths].some((fl) => fl.startsWith(`${net.family}/`) && Number(fl.split("/")[1]) > net.length)) {
      const own = this.q.open.get(prefixKey(net), at);
      return own ? [own] : [];
    }
    // Keys sort as text: every "a.b.c.x/len" lies between "a.b.c." and "a.b.c/".
    const lo = textPrefix(net);
    const rows = this.q.range.all(lo, lo + "\uffff", at);
    return rows.filter((r) => {
      const p = parsePrefix(r.prefix);
      return p.family === net.family && p.length >= net.length && overlaps(p, net);
    });
  }

  /** Bans in force that overlap `net`: inside it, or wider and holding it. */
  activeOverlapping(net: Prefix, at = Date.now()): BanRow[] {
    const rows = this.activeWithin(net, at);
    for (const fl of this.lengths) {
      const [family, len] = fl.split("/").map(Number) as [number, number];
      if (family !== net.family || len >= net.length) continue;
      const row = this.q.open.get(prefixKey(widen(net, len)), at);
      if (row) rows.push(row);
    }
    return rows;
  }

  /**
   * The bans in force, a page at a time (by id, so a page costs the same at
   * the end of a million as at the start): memory holds one page, never all.
   */
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
      return { events: this.q.pruneEvents.run(before, limit).changes, bans: this.q.pruneBans.run(before, limit).changes };
    })();
  }

  /** The ban in force on exactly `prefix`, if any. */
  openBan(prefix: Prefix, at = Date.now()): BanRow | undefined {
    return this.q.open.get(prefixKey(prefix), at);
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

export const rowPrefix = (row: Pick<BanRow, "prefix">): Prefix => parsePrefix(row.prefix);

// A key as prefixKey writes it: an address of digits and dots, or of hex digits and colons, and a length.
const KEY_V4 = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
const KEY_V6 = /^[0-9a-f:]{2,39}\/\d{1,3}$/;

/**
 * A stored key back as a prefix without the full parse (1.7 s for a million,
 * a quarter of a restore): the store holds only keys prefixKey wrote, and the
 * pattern still keeps anything but an address and a length from reaching a
 * firewall command. Anything else gets the full parse, which refuses it.
 */
export function storedPrefix(key: string): Prefix {
  const v4 = KEY_V4.test(key);
  if (!v4 && !KEY_V6.test(key)) return parsePrefix(key);
  const slash = key.indexOf("/");
  return { family: v4 ? 4 : 6, address: key.slice(0, slash), length: Number(key.slice(slash + 1)) };
}

/** The store's ban rules from a config. */
export function banRulesFor(
  c: Pick<Config, "threshold" | "threshold_window" | "ban_time" | "repeat_multiplier" | "ban_time_max" | "syn_ban_time" | "ipv4_prefix" | "ipv6_prefix">,
): BanRules {
  return {
    threshold: c.threshold,
    windowMs: c.threshold_window,
    times: { banMs: c.ban_time, multiplier: c.repeat_multiplier, maxMs: c.ban_time_max },
    synMs: c.syn_ban_time,
    lengths: { ipv4: c.ipv4_prefix, ipv6: c.ipv6_prefix },
  };
}
