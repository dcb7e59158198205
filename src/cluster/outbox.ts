import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { MAX_LIFTED, type LiftedBan } from "./lifted.js";
import type { Signed } from "./message.js";

/** The last message read from a peer's stream: its time and its sequence. */
export interface PeerMark {
  at: number;
  seq: number;
}

// Marks kept before sequences were signed (a bare time) are not marks: read as none.
function isMark(v: unknown): v is PeerMark {
  if (typeof v !== "object" || v === null) return false;
  const m = v as Record<string, unknown>;
  return Number.isSafeInteger(m.at) && Number.isSafeInteger(m.seq);
}

export interface OutboxRow {
  id: number;
  message: Signed;
}

/**
 * Our messages not yet acknowledged by Redis, in order, and where we are in
 * the fleet's stream. Written before anything is sent, deleted once Redis
 * has them: a Redis outage or a restart loses nothing.
 */
export class ClusterStore {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      add: db.prepare<[string]>("INSERT INTO cluster_outbox (message) VALUES (?)"),
      head: db.prepare<[number], { id: number; message: string }>("SELECT id, message FROM cluster_outbox ORDER BY id LIMIT ?"),
      done: db.prepare<[number]>("DELETE FROM cluster_outbox WHERE id <= ?"),
      size: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM cluster_outbox"),
      get: db.prepare<[string], { value: string }>("SELECT value FROM cluster_state WHERE key = ?"),
      del: db.prepare<[string]>("DELETE FROM cluster_state WHERE key = ?"),
      set: db.prepare<[string, string]>("INSERT INTO cluster_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      // The last heard, given first heard first (LiftedBans forgets the first).
      lifted: db.prepare<[number], LiftedBan>(
        "SELECT * FROM (SELECT prefix, origin, seq, heard_at AS heardAt FROM cluster_lifted ORDER BY heard_at DESC LIMIT ?) ORDER BY heardAt",
      ),
      lift: db.prepare<[string, string, number, number]>(
        "INSERT INTO cluster_lifted (prefix, origin, seq, heard_at) VALUES (?, ?, ?, ?) ON CONFLICT (prefix, origin) DO UPDATE SET seq = excluded.seq, heard_at = excluded.heard_at WHERE excluded.seq > seq",
      ),
      liftedCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM cluster_lifted"),
      forgetLifted: db.prepare<[number]>("DELETE FROM cluster_lifted WHERE heard_at <= (SELECT heard_at FROM cluster_lifted ORDER BY heard_at LIMIT 1 OFFSET ?)"),
    };
  }

  /** One transaction for the lot: a storm's bans cost one commit. The last sequence is kept with them. */
  add(messages: readonly Signed[]): void {
    const last = messages[messages.length - 1];
    this.db.transaction(() => {
      for (const m of messages) this.q.add.run(JSON.stringify(m));
      if (last) this.q.set.run("last_seq", last.seq);
    })();
  }

  /** Why a catch-up is owed (see PeerApplier.trimmedPast); undefined: none. */
  get owedCatchUp(): string | undefined {
    return this.q.get.get("owed_catchup")?.value;
  }

  set owedCatchUp(why: string | undefined) {
    if (why === undefined) this.q.del.run("owed_catchup");
    else this.q.set.run("owed_catchup", why);
  }

  /** The sequence of the last message we signed and kept; 0 before the first. */
  get lastSeq(): number {
    const kept = Number(this.q.get.get("last_seq")?.value ?? 0);
    return Number.isSafeInteger(kept) ? kept : 0;
  }

  set lastSeq(seq: number) {
    this.q.set.run("last_seq", String(seq));
  }

  head(limit: number): OutboxRow[] {
    return this.q.head.all(limit).map((r) => ({ id: r.id, message: JSON.parse(r.message) as Signed }));
  }

  /** Redis has everything up to `id`. */
  sent(id: number): void {
    this.q.done.run(id);
  }

  size(): number {
    return this.q.size.get()?.n ?? 0;
  }

  /** The id of the last stream entry applied here; undefined before the first catch-up. */
  get lastId(): string | undefined {
    return this.q.get.get("last_id")?.value;
  }

  /**
   * Where we are in the stream, with what was read up to there (peer marks
   * when they moved, unbans heard): one transaction, so a restart resumes
   * with the replay checks of the same place.
   */
  keep(lastId: string, marks: ReadonlyMap<string, PeerMark> | undefined, lifted: readonly LiftedBan[]): void {
    this.db.transaction(() => {
      this.q.set.run("last_id", lastId);
      if (marks) this.q.set.run("peer_marks", JSON.stringify(Object.fromEntries(marks)));
      for (const l of lifted) this.q.lift.run(l.prefix, l.origin, l.seq, l.heardAt);
      if (lifted.length) {
        const over = (this.q.liftedCount.get()?.n ?? 0) - MAX_LIFTED;
        if (over > 0) this.q.forgetLifted.run(over - 1);
      }
    })();
  }

  /** The unbans heard, first heard first, as many as are remembered. */
  liftedBans(): LiftedBan[] {
    return this.q.lifted.all(MAX_LIFTED);
  }

  /** The last message read from each peer's stream (replay checks), as kept at the last position. */
  get peerMarks(): Map<string, PeerMark> {
    const marks = new Map<string, PeerMark>();
    try {
      const kept = JSON.parse(this.q.get.get("peer_marks")?.value ?? "{}") as unknown;
      if (typeof kept === "object" && kept !== null) {
        for (const [origin, mark] of Object.entries(kept)) if (isMark(mark)) marks.set(origin, { at: mark.at, seq: mark.seq });
      }
    } catch {
      /* unreadable: none, as before they were kept */
    }
    return marks;
  }

  /**
   * Random, made once per store: outbox ids start again in a new store, so
   * Redis knows our last published id per (node, store) and never takes a
   * message twice, nor skips one of a new store.
   */
  get storeId(): string {
    const known = this.q.get.get("store_id")?.value;
    if (known) return known;
    const id = randomBytes(8).toString("hex");
    this.q.set.run("store_id", id);
    return id;
  }
}
