import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { parsePrefix, prefixKey, type Prefix } from "../policy/address.js";
import { MIGRATIONS } from "./schema.js";

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
}

/** Hits of one prefix gathered in one batch. */
export interface HitGroup {
  prefix: Prefix;
  /** count per port; port 0 when it is not known (a redirect listener). */
  ports: Map<number, number>;
  source: string;
  reason?: string;
  at: number;
}

export interface Stats {
  active: number;
  bans_last_24h: number;
  top_ports: { port: number; hits: number }[];
}

const DAY_MS = 86_400_000;

/** The source of truth: every ban and what led to it. The firewall is re-synced from here. */
export class Store {
  private readonly db: Database.Database;
  private readonly q;

  /** `readonly` for readers without write access (munin): no migration, no new file. */
  constructor(file: string, opts: { readonly?: boolean } = {}) {
    if (opts.readonly) {
      this.db = new Database(file, { readonly: true, fileMustExist: true });
    } else {
      // World-readable like a published blocklist, so munin and exports need no root.
      if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
      this.db = new Database(file);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.migrate();
    }
    this.db.pragma("busy_timeout = 5000");
    const db = this.db;
    this.q = {
      open: db.prepare<[string, number], BanRow>(
        "SELECT * FROM bans WHERE prefix = ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
      ),
      insert: db.prepare(
        "INSERT INTO bans (prefix, first_seen, last_seen, hits, port, source, reason, expires_at) VALUES (@prefix, @at, @at, @hits, @port, @source, @reason, @expires_at)",
      ),
      bump: db.prepare("UPDATE bans SET hits = hits + @hits, last_seen = @at, port = COALESCE(port, @port) WHERE id = @id"),
      event: db.prepare("INSERT INTO events (at, prefix, kind, port, count, detail) VALUES (?, ?, ?, ?, ?, ?)"),
      end: db.prepare("UPDATE bans SET ended_at = ?, end_reason = ? WHERE prefix = ? AND ended_at IS NULL"),
      active: db.prepare<[number], BanRow>(
        "SELECT * FROM bans WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY first_seen",
      ),
      countActive: db.prepare<[number], { n: number }>(
        "SELECT count(*) AS n FROM bans WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
      ),
      countSince: db.prepare<[number], { n: number }>("SELECT count(*) AS n FROM bans WHERE first_seen >= ?"),
      topPorts: db.prepare<[number], { port: number; hits: number }>(
        "SELECT port, sum(count) AS hits FROM events WHERE kind = 'hit' AND port > 0 AND at >= ? GROUP BY port ORDER BY hits DESC, port LIMIT 10",
      ),
    };
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
   * Record a batch of hits in one transaction. Returns the prefixes that were
   * not banned before (new bans); hits on a ban in force only count.
   */
  recordHits(groups: readonly HitGroup[]): BanRow[] {
    return this.db.transaction(() => {
      const created: BanRow[] = [];
      for (const g of groups) {
        const key = prefixKey(g.prefix);
        let hits = 0;
        let firstPort: number | null = null;
        for (const [port, n] of g.ports) {
          hits += n;
          if (port > 0) firstPort ??= port;
          if (n > 0) this.q.event.run(g.at, key, "hit", port > 0 ? port : null, n, g.source);
        }
        const open = this.q.open.get(key, g.at);
        if (open) {
          this.q.bump.run({ id: open.id, hits, at: g.at, port: firstPort });
          continue;
        }
        // An expired ban still open in the table is closed before the new one starts.
        this.q.end.run(g.at, "expired", key);
        const row = {
          prefix: key,
          at: g.at,
          hits,
          port: firstPort,
          source: g.source,
          reason: g.reason ?? null,
          expires_at: null,
        };
        const id = Number(this.q.insert.run(row).lastInsertRowid);
        this.q.event.run(g.at, key, "ban", firstPort, 1, g.reason ?? g.source);
        created.push({ id, prefix: key, first_seen: g.at, last_seen: g.at, hits, port: firstPort, source: g.source, reason: g.reason ?? null, expires_at: null, ended_at: null });
      }
      return created;
    })();
  }

  /** End the ban in force on `prefix`. False when there was none. */
  endBan(prefix: Prefix, reason: string, at = Date.now()): boolean {
    const key = prefixKey(prefix);
    return this.db.transaction(() => {
      const changed = this.q.end.run(at, reason, key).changes > 0;
      if (changed) this.q.event.run(at, key, "unban", null, 1, reason);
      return changed;
    })();
  }

  isBanned(prefix: Prefix, at = Date.now()): boolean {
    return this.q.open.get(prefixKey(prefix), at) !== undefined;
  }

  activeBans(at = Date.now()): BanRow[] {
    return this.q.active.all(at);
  }

  stats(at = Date.now()): Stats {
    return {
      active: this.q.countActive.get(at)?.n ?? 0,
      bans_last_24h: this.q.countSince.get(at - DAY_MS)?.n ?? 0,
      top_ports: this.q.topPorts.all(at - DAY_MS),
    };
  }

  close(): void {
    this.db.close();
  }
}

export const rowPrefix = (row: Pick<BanRow, "prefix">): Prefix => parsePrefix(row.prefix);
