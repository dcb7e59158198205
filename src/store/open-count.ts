import type Database from "better-sqlite3";
import { ADD_OPEN_SQL } from "./schema.js";

/** The open bans counted along an index (the kept count's fallback and check). */
export const COUNT_OPEN_SQL = "SELECT count(*) FROM bans INDEXED BY bans_open WHERE ended_at IS NULL";

/** The kept count of open bans (ADD_OPEN_SQL), moved in step with each write inside its transaction. */
export class OpenCount {
  // Prepared when first needed: a reader never writes, and its store may predate the table.
  private addOpen: Database.Statement<[number]> | undefined;

  constructor(private readonly db: Database.Database) {}

  /** `n` bans were opened (or closed, negative). */
  add(n: number): void {
    if (n !== 0) (this.addOpen ??= this.db.prepare<[number]>(ADD_OPEN_SQL)).run(n);
  }

  /** Exact again, from the index. */
  recount(): void {
    this.db.prepare(`UPDATE open_ban_count SET n = (${COUNT_OPEN_SQL})`).run();
  }
}
