// The store's queries that run often (every expiry tick, every covered-ban
// lookup) must read an index narrowed to what they look for. Without
// statistics SQLite picked bans_ended ("ended_at IS NULL") for both and read
// every ban in force: 60 ms a second at a million bans, found by profiling.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { Store } from "../../src/store/store.js";

interface Prepared {
  source: string;
}

function planOf(store: Store, name: string): string {
  // The statements live in the store and the parts it holds (lookups, the hit recorder).
  const parts = store as unknown as { q: Record<string, Prepared>; w: Record<string, Prepared>; lookups: Record<string, Prepared>; recorder: { q: Record<string, Prepared> } };
  const source = (parts.q[name] ?? parts.w[name] ?? parts.lookups[name] ?? parts.recorder.q[name])?.source;
  assert.ok(source, `no statement ${name}`);
  const args = source.includes("@prefix") ? [{ prefix: "192.0.2.1/32" }] : Array.from({ length: (source.match(/\?/g) ?? []).length }, () => 1);
  const rows = store.database.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${source}`).all(...args);
  return rows.map((r) => r.detail).join(" | ");
}

test("expiry and covered-ban lookups read their own index, not every ban in force", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-plans-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(join(dir, "iblock.sqlite"));
  t.after(() => store.close());
  assert.match(planOf(store, "endExpired"), /USING INDEX bans_expires \(expires_at<\?\)/);
  assert.match(planOf(store, "range"), /USING INDEX bans_open \(prefix>\? AND prefix<\?\)/);
  assert.doesNotMatch(planOf(store, "endExpired") + planOf(store, "range"), /bans_ended/);
});

test("a prefix's history reads the ban in force by bans_open and the ended ones by their own index", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-plans-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(join(dir, "iblock.sqlite"));
  t.after(() => store.close());
  for (const name of ["lastBan", "history", "pastBans"]) {
    const plan = planOf(store, name);
    assert.match(plan, /SEARCH bans USING INDEX bans_open \(prefix=\?\)/, name);
    assert.match(plan, /SEARCH bans USING INDEX bans_ended_prefix \(prefix=\?\)/, name);
    assert.doesNotMatch(plan, /SCAN bans/, name);
  }
  // No index of every ban's prefix: a ban made writes one prefix index.
  assert.equal(store.database.prepare("SELECT 1 FROM sqlite_master WHERE name = 'bans_prefix'").get(), undefined);
});

test("retention reads the ended bans' index, which holds no ban in force", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-plans-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(join(dir, "iblock.sqlite"));
  t.after(() => store.close());
  assert.match(planOf(store, "pruneBans"), /INDEX bans_ended \(ended_at>\? AND ended_at<\?\)/);
  const db = store.database;
  const now = Date.now();
  db.prepare("INSERT INTO bans (prefix, first_seen, last_seen, source) VALUES ('192.0.2.1/32', ?, ?, 'cli')").run(now, now);
  db.prepare("INSERT INTO bans (prefix, first_seen, last_seen, source, ended_at) VALUES ('192.0.2.2/32', ?, ?, 'cli', ?)").run(now, now, now);
  const entries = (index: string): number => (db.prepare(`SELECT count(*) AS n FROM bans INDEXED BY ${index} WHERE ${index === "bans_ended" ? "ended_at IS NOT NULL" : "ended_at IS NULL"}`).get() as { n: number }).n;
  assert.equal(entries("bans_ended"), 1);
  assert.equal(entries("bans_open"), 1);
  assert.match(db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'bans_ended'").get()?.sql ?? "", /WHERE ended_at IS NOT NULL/);
});
