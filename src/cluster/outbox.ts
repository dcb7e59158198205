import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import type { Signed } from "./message.js";

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
      set: db.prepare<[string, string]>("INSERT INTO cluster_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    };
  }

  /** One transaction for the lot: a storm's bans cost one commit. */
  add(messages: readonly Signed[]): void {
    this.db.transaction(() => {
      for (const m of messages) this.q.add.run(JSON.stringify(m));
    })();
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

  set lastId(id: string) {
    this.q.set.run("last_id", id);
  }

  /** The time of the last message read from each peer (replay checks), as kept at the last position. */
  get peerMarks(): Map<string, number> {
    const marks = new Map<string, number>();
    try {
      const kept = JSON.parse(this.q.get.get("peer_marks")?.value ?? "{}") as unknown;
      if (typeof kept === "object" && kept !== null) {
        for (const [origin, at] of Object.entries(kept)) if (typeof at === "number" && Number.isFinite(at)) marks.set(origin, at);
      }
    } catch {
      /* unreadable: none, as before they were kept */
    }
    return marks;
  }

  set peerMarks(marks: ReadonlyMap<string, number>) {
    this.q.set.run("peer_marks", JSON.stringify(Object.fromEntries(marks)));
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
