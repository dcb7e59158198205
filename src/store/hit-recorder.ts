import type Database from "better-sqlite3";
import { prefixKey } from "../net/address.js";
import type { MinuteTally } from "./history.js";
import type { BanLookups } from "./lookups.js";
import type { OpenCount } from "./open-count.js";
import type { BanRow, EndKind, HitGroup } from "./rows.js";
import { BANS_OF_PREFIX_SQL } from "./schema.js";

/** Bans of one prefix, in force or ended, counted by source and ending (null: in force). */
export interface PastBans {
  source: string;
  ending: EndKind | null;
  n: number;
}

/**
 * What the store knows of one prefix when a batch's hits on it come in. The
 * costly facts are asked for, so a decision pays only for what it reads.
 */
export interface HitFacts {
  group: HitGroup;
  /** What the group asks for: its hits on every port (a kernel report of a connection counted already brings none). */
  hits: number;
  /** What is recorded as connections to trap ports (none for a decision such as an admin's ban). */
  counted: number;
  /** The ban in force on this prefix. */
  open: BanRow | undefined;
  pastBans(): PastBans[];
  /** The latest ban of this prefix, in force or not. */
  lastBan(): BanRow | undefined;
  /** The wider ban in force that holds this prefix (the longest-lasting of them). */
  covering(): BanRow | undefined;
  /** Every wider ban in force that holds this prefix. */
  wider(): BanRow[];
  /** Hits recorded on this prefix within the last `windowMs` (this batch's included). */
  recentHits(windowMs: number): number;
}

export type HitDecision =
  /** The hits count on a ban in force: the prefix's own or a wider one holding it. */
  | { kind: "count"; on: BanRow }
  /** The borrowed ban in force becomes the group's, ending at `expires_at`. */
  | { kind: "take-over"; expires_at: number | null }
  /** The ban in force is given a new end. */
  | { kind: "retime"; expires_at: number | null }
  /** No ban (yet). */
  | { kind: "none" }
  /** A new ban, the `nth` offence, with `hits` on it. */
  | { kind: "ban"; expires_at: number | null; nth: number; hits: number };

/** The rules (src/bans/rules.ts), as the store asks them. */
export interface HitPolicy {
  /** Sources whose request is a connection to a trap port, recorded as a hit. */
  isHit(source: string): boolean;
  decide(facts: HitFacts): HitDecision;
}

/** Records a batch's hits and applies the rules' decision for each prefix, in the caller's transaction. */
export class HitRecorder {
  private readonly q;

  constructor(
    db: Database.Database,
    private readonly lookups: BanLookups,
    private readonly openCount: OpenCount,
  ) {
    this.q = {
      insert: db.prepare(
        "INSERT INTO bans (prefix, first_seen, last_seen, hits, port, source, reason, expires_at, origin) VALUES (@prefix, @at, @at, @hits, @port, @source, @reason, @expires_at, @origin)",
      ),
      // max(): a kernel report dated by its listener hit may come after later hits.
      bump: db.prepare("UPDATE bans SET hits = hits + @hits, last_seen = max(last_seen, @at), port = COALESCE(port, @port) WHERE id = @id"),
      retime: db.prepare("UPDATE bans SET expires_at = @expires_at, reason = @reason WHERE id = @id"),
      takeOver: db.prepare("UPDATE bans SET source = @source, reason = @reason, expires_at = @expires_at, origin = @origin WHERE id = @id"),
      event: db.prepare("INSERT INTO events (at, prefix, kind, port, count, detail) VALUES (?, ?, ?, ?, ?, ?)"),
      endExpired: db.prepare("UPDATE bans SET ended_at = ?, end_reason = 'expired', end_kind = 'expired' WHERE prefix = ? AND ended_at IS NULL"),
      hitsSince: db.prepare<[string, number], { n: number | null }>("SELECT sum(count) AS n FROM events WHERE prefix = ? AND kind = 'hit' AND at >= ?"),
      pastBans: db.prepare<[{ prefix: string }], PastBans>(`SELECT source, end_kind AS ending, count(*) AS n FROM ${BANS_OF_PREFIX_SQL} GROUP BY 1, 2`),
      lastBan: db.prepare<[{ prefix: string }], BanRow>(`SELECT * FROM ${BANS_OF_PREFIX_SQL} ORDER BY id DESC LIMIT 1`),
    };
  }

  /** Offences of `key` so far, as the rules count them from these rows. */
  pastBans(key: string): PastBans[] {
    return this.q.pastBans.all({ prefix: key });
  }

  /** Returns the bans made or changed. */
  record(groups: readonly HitGroup[], policy: HitPolicy, tally: MinuteTally): BanRow[] {
    const created: BanRow[] = [];
    for (const g of groups) {
      const key = prefixKey(g.prefix);
      let hits = 0;
      let counted = 0;
      let firstPort: number | null = null;
      const connection = policy.isHit(g.source);
      for (const [port, n] of g.ports) {
        hits += n;
        if (port > 0) firstPort ??= port;
        if (n > 0 && connection) {
          counted += n;
          this.q.event.run(g.at, key, "hit", port > 0 ? port : null, n, g.source);
          tally.add(g.at, "hits", n, port);
        }
      }
      const open = this.lookups.openBan(key, g.at);
      if (open) this.q.bump.run({ id: open.id, hits: counted, at: g.at, port: firstPort });
      const d = policy.decide({
        group: g,
        hits,
        counted,
        open,
        pastBans: () => this.pastBans(key),
        lastBan: () => this.q.lastBan.get({ prefix: key }),
        covering: () => this.lookups.covering(g.prefix, g.at),
        wider: () => this.lookups.wider(g.prefix, g.at),
        recentHits: (windowMs) => this.q.hitsSince.get(key, g.at - windowMs)?.n ?? 0,
      });
      if (d.kind === "none") continue;
      if (d.kind === "count") {
        if (d.on !== open) this.q.bump.run({ id: d.on.id, hits: counted, at: g.at, port: firstPort });
        continue;
      }
      if (d.kind === "take-over" && open) {
        const reason = g.reason ?? null;
        const origin = g.origin ?? null;
        this.q.takeOver.run({ id: open.id, source: g.source, reason, expires_at: d.expires_at, origin });
        created.push({ ...open, source: g.source, reason, origin, expires_at: d.expires_at, hits: open.hits + counted });
        continue;
      }
      if (d.kind === "retime" && open) {
        const reason = g.reason ?? open.reason;
        this.q.retime.run({ id: open.id, expires_at: d.expires_at, reason });
        created.push({ ...open, expires_at: d.expires_at, reason, hits: open.hits + counted });
        continue;
      }
      if (d.kind !== "ban") continue;
      // An expired ban still open in the table is closed before the new one starts.
      this.openCount.add(-this.q.endExpired.run(g.at, key).changes);
      const row = { prefix: key, at: g.at, hits: d.hits, port: firstPort, source: g.source, reason: g.reason ?? null, origin: g.origin ?? null, expires_at: d.expires_at };
      const id = Number(this.q.insert.run(row).lastInsertRowid);
      this.openCount.add(1);
      tally.add(g.at, "bans", 1);
      this.lookups.made(g.prefix);
      this.q.event.run(g.at, key, "ban", firstPort, d.nth, g.reason ?? g.source);
      created.push({ id, ...row, first_seen: g.at, last_seen: g.at, ended_at: null, end_reason: null, end_kind: null });
    }
    return created;
  }
}
