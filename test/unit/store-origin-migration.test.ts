// A store made before origins and endings were columns: the migration reads
// the old reason texts once, and from then on only the columns decide.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { DEFAULT_RULES, hitPolicy, offences } from "../../src/bans/rules.js";
import { parsePrefix } from "../../src/net/address.js";
import { openDatabase } from "../../src/store/sqlite.js";
import { MIGRATIONS } from "../../src/store/schema.js";
import { Store } from "../../src/store/store.js";

const H = 3_600_000;

test("a store of the previous schema opens: a peer's origin and each ending's kind come from the old texts", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-origin-migration-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "iblock.sqlite");
  const now = Date.now();
  const old = openDatabase(file);
  // The step before the one that made origins and endings columns (later steps may follow it).
  const before = MIGRATIONS.findIndex((m) => m.includes("ADD COLUMN origin"));
  for (const step of MIGRATIONS.slice(0, before)) old.exec(step);
  old.pragma(`user_version = ${before}`);
  const insert = old.prepare(
    "INSERT INTO bans (prefix, first_seen, last_seen, hits, source, reason, expires_at, ended_at, end_reason) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
  );
  insert.run("192.0.2.5/32", now - H, now - H, "peer", "hostB: trap: 23", null, null, null);
  insert.run("192.0.2.6/32", now - 3 * H, now - 3 * H, "trap", null, now - 2 * H, now - 2 * H, "expired");
  insert.run("192.0.2.6/32", now - 2 * H, now - 2 * H, "trap", null, now - H, now - H, "expired");
  insert.run("192.0.2.6/32", now - H, now - H, "cli", null, null, now - H / 2, "cli");
  insert.run("192.0.2.7/32", now - H, now - H, "trap", null, null, now - H / 2, "covered by 192.0.2.0/24");
  insert.run("192.0.2.8/32", now - H, now - H, "peer", "hostC: trap", null, now - H / 2, "peer hostC");
  insert.run("192.0.2.9/32", now - H, now - H, "feed:x", "feed x", null, now - H / 2, "dropped by feed x");
  old.close();

  const store = new Store(file);
  t.after(() => store.close());
  // The peer's ban in force: its origin is a column, and its reason shows as before.
  const peer = store.openBan(parsePrefix("192.0.2.5"));
  assert.equal(peer?.origin, "hostB");
  assert.equal(peer?.reason, "hostB: trap: 23");
  assert.equal(peer?.end_kind, null);
  const kinds = (p: string): (string | null)[] => store.history(parsePrefix(p)).bans.map((b) => b.end_kind);
  assert.deepEqual(kinds("192.0.2.6"), ["expired", "expired", "unban"]);
  assert.deepEqual(kinds("192.0.2.7"), ["covered"]);
  assert.deepEqual(kinds("192.0.2.8"), ["peer"]);
  assert.deepEqual(kinds("192.0.2.9"), ["feed"]);
  assert.equal(store.lastBan(parsePrefix("192.0.2.8"))?.origin, "hostC");
  // The ended texts stay as they were shown.
  assert.equal(store.lastBan(parsePrefix("192.0.2.7"))?.end_reason, "covered by 192.0.2.0/24");
  // Escalation reads the kinds: two bans ran their course, the one lifted by hand is no offence.
  assert.equal(offences(store.pastBans(parsePrefix("192.0.2.6"))), 2);
  const [third] = store.recordHits([{ prefix: parsePrefix("192.0.2.6"), ports: new Map([[23, 1]]), source: "trap", at: now }], hitPolicy({ ...DEFAULT_RULES, times: { banMs: H, multiplier: 2, maxMs: 24 * H } }));
  assert.equal(third?.expires_at, now + 4 * H);
  // Our own ban taking a peer's over is ours: no origin left for the peer's unban to match.
  const [taken] = store.recordHits([{ prefix: parsePrefix("192.0.2.5"), ports: new Map([[0, 1]]), source: "cli", at: now }], hitPolicy(DEFAULT_RULES));
  assert.equal(taken?.origin, null);
  assert.equal(store.openBan(parsePrefix("192.0.2.5"))?.origin, null);
});

test("a peer's ban made now keeps its origin apart from its reason", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-origin-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(join(dir, "iblock.sqlite"));
  t.after(() => store.close());
  const at = Date.now();
  store.recordHits([{ prefix: parsePrefix("198.51.100.4"), ports: new Map([[23, 1]]), source: "peer", origin: "hostB", reason: "hostB: trap", at }], hitPolicy(DEFAULT_RULES));
  assert.equal(store.openBan(parsePrefix("198.51.100.4"))?.origin, "hostB");
  store.importBans([{ prefix: parsePrefix("198.51.100.5"), origin: "hostC", reason: "hostC: trap" }], { source: "peer", reason: null, durationMs: H }, at);
  assert.equal(store.openBan(parsePrefix("198.51.100.5"))?.origin, "hostC");
  assert.ok(store.endBan(parsePrefix("198.51.100.4"), { kind: "peer", reason: "peer hostB" }, at + 1));
  assert.equal(store.lastBan(parsePrefix("198.51.100.4"))?.end_kind, "peer");
});
