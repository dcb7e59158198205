// The counts of open bans and of bans made per minute (the per-minute history) are kept by the store's
// writes (munin and stats read a row or a few instead of counting a million
// index entries). Every way a ban opens or closes must keep them exact:
// checked against real counts after each step of a mixed run of hits,
// imports, unbans, expiries, feed drops and pruning.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { FeedStore, feedSource } from "../../src/feeds/state.js";
import { parsePrefix, prefixKey } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";
import { DEFAULT_RULES, hitPolicy } from "../../src/bans/rules.js";
import { MIGRATIONS } from "../../src/store/schema.js";

const HOUR = 3_600_000;

function realCount(store: Store, at: number): number {
  return (
    store.database
      .prepare<[number], { n: number }>("SELECT count(*) AS n FROM bans WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
      .get(at)?.n ?? -1
  );
}

/** Bans made from the minute holding `since` on: the history counts whole minutes. */
function realSince(store: Store, since: number): number {
  const minute = Math.floor(since / 60_000) * 60_000;
  return store.database.prepare<[number], { n: number }>("SELECT count(*) AS n FROM bans WHERE first_seen >= ?").get(minute)?.n ?? -1;
}

const kept = (store: Store): number => store.database.prepare<[], { n: number }>("SELECT n FROM open_ban_count").get()?.n ?? -1;

function tempStore(t: test.TestContext): { store: Store; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "iblock-open-count-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "iblock.sqlite");
  const store = new Store(file);
  t.after(() => store.close());
  return { store, file };
}

test("the kept counts follow every way a ban opens or closes", (t) => {
  const { store } = tempStore(t);
  const feeds = new FeedStore(store);
  const rules = { ...DEFAULT_RULES, times: { banMs: HOUR, multiplier: 2, maxMs: 24 * HOUR } };
  const t0 = Date.UTC(2026, 10, 25);
  const addr = (i: number): string => `198.18.${i >> 8}.${i & 255}`;
  const check = (at: number, step: string): void => {
    assert.equal(store.countActive(at), realCount(store, at), `in force, after ${step}`);
    // Windows that start on a minute and inside one, within the history kept (pruning keeps a day at least).
    for (const since of [at - 24 * HOUR, at - 37 * 60_000 - 1234, Math.floor(at / 60_000) * 60_000 - 5 * 60_000]) {
      assert.equal(store.activity(since, at).bans, realSince(store, since), `made since ${since}, after ${step}`);
    }
  };
  // A deterministic mix: the same run every time, so a failure can be replayed.
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed >>> 16) % n; // the high bits: the low ones of this generator repeat quickly
  };
  let at = t0;
  for (let step = 0; step < 400; step++) {
    at += rand(3) * 20 * 60_000 + rand(60_000); // time passes: some bans run out, still open in the table
    const i = rand(64);
    const prefix = parsePrefix(addr(i));
    switch (rand(7)) {
      case 0:
      case 1:
        store.recordHits([{ prefix, ports: new Map([[23, 1]]), source: "trap", at }], hitPolicy(rules));
        break;
      case 2:
        store.importBans([prefix, parsePrefix(addr(i + 1)), parsePrefix(addr(i + 2))], { source: "cli", reason: null, durationMs: HOUR }, at);
        break;
      case 3:
        store.endBan(prefix, { kind: "unban", reason: "unban" }, at);
        break;
      case 4:
        store.endExpired(at, 3);
        break;
      case 5: {
        // A feed lists the address, then drops it: its own ban ends, a trap's stays.
        const key = prefixKey(prefix);
        store.importBans([prefix], { source: feedSource("list"), reason: null, durationMs: Infinity }, at);
        feeds.addEntries("list", [key]);
        feeds.dropEntries("list", [key], "feed dropped it", at);
        break;
      }
      case 6:
        // History older than a day goes (history_days is 1 at least).
        store.prune(at - 25 * HOUR, 5);
        break;
    }
    check(at, `step ${step}`);
  }
  assert.ok(realCount(store, at) > 0, "the run ends with bans in force (it tested something)");
  // One row per minute that had bans made, keyed by the minute's start.
  const rows = store.database.prepare<[], { minute: number }>("SELECT minute FROM rollup_minute WHERE bans > 0").all();
  assert.ok(rows.length > 0 && rows.every((r) => r.minute % 60_000 === 0), `rows keyed by minute: ${rows.slice(0, 3).map((r) => r.minute).join(", ")}`);
});

test("a count of open bans that went wrong is made exact again by a recount (the daemon's start)", (t) => {
  const { store } = tempStore(t);
  store.importBans([parsePrefix("192.0.2.1"), parsePrefix("192.0.2.2")], { source: "cli", reason: null, durationMs: Infinity });
  store.database.prepare("UPDATE open_ban_count SET n = 40").run();
  assert.equal(store.countActive(), 40);
  store.recountOpen();
  assert.equal(kept(store), 2);
  assert.equal(store.countActive(), 2);
});

test("a reader counts a store made before the kept count existed", (t) => {
  const { store, file } = tempStore(t);
  store.importBans([parsePrefix("192.0.2.1"), parsePrefix("2001:db8::/64")], { source: "cli", reason: null, durationMs: Infinity });
  // As a store was before the migration that made the kept counts (and those after it).
  const before = MIGRATIONS.findIndex((m) => m.includes("CREATE TABLE open_ban_count"));
  store.database.exec(`DROP TABLE open_ban_count; DROP TABLE IF EXISTS bans_made; ALTER TABLE bans DROP COLUMN origin; ALTER TABLE bans DROP COLUMN end_kind; PRAGMA user_version = ${before}`);
  const reader = new Store(file, { readonly: true });
  t.after(() => reader.close());
  assert.equal(reader.countActive(), 2);
  assert.equal(reader.activity(0).bans, 2);
  // And the next writer's migration counts what is there.
  const writer = new Store(file);
  t.after(() => writer.close());
  assert.equal(kept(writer), 2);
  assert.equal(writer.activity(0).bans, 2);
});
