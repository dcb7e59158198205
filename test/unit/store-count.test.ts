// The count of bans in force comes from a row triggers keep (munin and stats
// read it in constant time): it must agree with counting the rows, whatever
// happens to the bans, and start right on a store made before the triggers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import Database from "better-sqlite3";
import { parsePrefix } from "../../src/policy/address.js";
import { MIGRATIONS } from "../../src/store/schema.js";
import { Store } from "../../src/store/store.js";

const counted = (store: Store, at: number): number =>
  store.database.prepare<[number], { n: number }>("SELECT count(*) AS n FROM bans WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)").get(at)?.n ?? -1;

function tempStore(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "iblock-count-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "iblock.sqlite");
}

test("the kept count of bans in force agrees with the rows through hits, imports, ends, expiry and pruning", (t) => {
  const store = new Store(tempStore(t));
  t.after(() => store.close());
  const t0 = 1_700_000_000_000;
  const hit = (a: string, at: number, durationMs?: number) => ({ prefix: parsePrefix(a), ports: new Map([[23, 1]]), source: "trap", at, durationMs });
  store.recordHits([hit("198.18.0.1", t0), hit("198.18.0.2", t0), hit("198.18.0.3", t0, 60_000)]);
  store.importBans(["198.18.1.0/24", "198.18.2.9", "198.18.0.1"].map(parsePrefix), { source: "import", reason: null, durationMs: 3_600_000 }, t0);
  assert.equal(store.countActive(t0 + 1), counted(store, t0 + 1));
  assert.equal(store.countActive(t0 + 1), 5);
  store.endBan(parsePrefix("198.18.0.2"), "unban", t0 + 2);
  // 198.18.0.3's minute is up: counted out before the sweep closes it, and after.
  assert.equal(store.countActive(t0 + 120_000), counted(store, t0 + 120_000));
  store.endExpired(t0 + 120_000);
  assert.equal(store.countActive(t0 + 120_000), 3);
  assert.equal(store.countActive(t0 + 120_000), counted(store, t0 + 120_000));
  // Banned again after its ban ended: a new open row.
  store.recordHits([hit("198.18.0.2", t0 + 130_000)]);
  store.prune(t0 + 200_000);
  assert.equal(store.countActive(t0 + 130_001), counted(store, t0 + 130_001));
  assert.equal(store.countActive(t0 + 130_001), 4);
});

test("a store made before the count was kept starts with the right count", (t) => {
  const file = tempStore(t);
  const old = new Database(file);
  old.pragma("journal_mode = WAL");
  const before = MIGRATIONS.findIndex((m) => m.includes("CREATE TABLE open_bans"));
  assert.ok(before > 0);
  for (const [v, step] of MIGRATIONS.slice(0, before).entries()) {
    old.exec(step);
    old.pragma(`user_version = ${v + 1}`);
  }
  const insert = old.prepare("INSERT INTO bans (prefix, first_seen, last_seen, source, expires_at, ended_at) VALUES (?, 1, 1, 'trap', NULL, ?)");
  insert.run("198.18.0.1/32", null);
  insert.run("198.18.0.2/32", null);
  insert.run("198.18.0.3/32", 5);
  old.close();
  const store = new Store(file);
  t.after(() => store.close());
  assert.equal(store.countActive(), 2);
});
