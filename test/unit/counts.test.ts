// One truth for counts (issue 28): the store keeps the per-minute history with
// each change, whoever makes it, and /api/stats, `stats` and `top` read it
// alike. Only connections to trap ports are hits: an admin's, the API's, a
// peer's or a feed's ban counts none. A ban's log line says what made it, and
// a hit the kernel route saw is counted with route "kernel".
import { hitPolicy, DEFAULT_RULES } from "../../src/bans/rules.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { banLine } from "../../src/bans/ban-line.js";
import { HitJoiner } from "../../src/bans/hit-join.js";
import type { BanRequest } from "../../src/bans/ban-request.js";
import { topScreen } from "../../src/commands/top.js";
import type { HttpContext } from "../../src/http/context.js";
import { stats as apiStats } from "../../src/http/routes-read.js";
import { BanCounts } from "../../src/metrics/counts.js";
import { parsePrefix } from "../../src/net/address.js";
import { Store, type HitGroup } from "../../src/store/store.js";

const group = (addr: string, source: string, port: number, at: number, reason?: string): HitGroup => ({
  prefix: parsePrefix(addr),
  ports: new Map([[port, 1]]),
  source,
  reason,
  at,
});

test("the store counts bans, unbans and trap hits per minute; /api/stats, stats and top say the same", async () => {
  const store = new Store(":memory:");
  const now = Date.now();
  // Three trap hits (two sources), an admin's and an API ban, a peer's, a feed's import, one unban.
  store.recordHits([group("192.0.2.1", "trap", 23, now), group("192.0.2.2", "kernel", 445, now)], hitPolicy(DEFAULT_RULES));
  store.recordHits([group("192.0.2.1", "trap", 23, now)], hitPolicy(DEFAULT_RULES));
  store.recordHits([group("192.0.2.3", "cli", 0, now), group("192.0.2.4", "api", 0, now), group("192.0.2.5", "peer", 23, now, "hostB: trap")], hitPolicy(DEFAULT_RULES));
  store.importBans([parsePrefix("198.51.100.0/24")], { source: "feed:list", reason: null, durationMs: Infinity }, now);
  store.endBan(parsePrefix("192.0.2.3"), { kind: "unban", reason: "cli" }, now);

  const s = store.stats(now);
  assert.deepEqual(s, { active: 5, bans_last_24h: 6, hits_last_24h: 3, top_ports: [{ port: 23, hits: 2 }, { port: 445, hits: 1 }] });
  const day = store.activity(now - 86_400_000, now);
  assert.equal(day.unbans, 1);
  assert.equal(day.minutes.at(-1)?.minute, now - (now % 60_000), "the current minute is there");
  // Bans recorded by what made them, with no hit for those that are no connection.
  const hits = (addr: string): number => store.history(parsePrefix(addr)).hits;
  assert.deepEqual(["192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5"].map(hits), [2, 0, 0, 0]);
  assert.equal(store.lastBan(parsePrefix("192.0.2.4"))?.source, "api");

  const counts = new BanCounts(store.database);
  await counts.recount();
  const api = apiStats({ store, counts, health: () => ({}) } as unknown as HttpContext, now);
  for (const key of ["active", "bans_last_24h", "hits_last_24h", "top_ports"] as const) assert.deepEqual(api[key], s[key], key);

  const screen = topScreen(store, { minutes: 5 }, now);
  assert.match(screen, /^bans in force +5$/m, screen);
  assert.match(screen, /^last 5 min +6 bans .*, 3 hits$/m, screen);
  assert.match(screen, /^top trap ports +23 \(2\) {2}445 \(1\)$/m, screen);
  store.close();
});

test("a fresh store's history has the current minute with the bans in force: a chart's first point", () => {
  const store = new Store(":memory:");
  const now = Date.now();
  store.importBans([parsePrefix("192.0.2.1"), parsePrefix("192.0.2.2")], { source: "import", reason: null, durationMs: Infinity }, now - 3 * 86_400_000);
  const day = store.activity(now - 86_400_000, now);
  assert.deepEqual(day.minutes, [{ minute: now - (now % 60_000), bans: 0, unbans: 0, hits: 0, active: 2 }]);
  store.close();
});

test("a ban's log line: blocking ADDR (port N) for a trap hit only; others say what made them", () => {
  const p = parsePrefix("192.0.2.9");
  assert.equal(banLine(p, { source: "trap", reason: null, port: 23 }), "blocking 192.0.2.9 (port 23)");
  assert.equal(banLine(p, { source: "kernel", reason: null, port: null }), "blocking 192.0.2.9");
  assert.equal(banLine(p, { source: "peer", reason: "hostB: trap", port: 23 }), 'blocking 192.0.2.9 (from peer "hostB: trap")');
  assert.equal(banLine(p, { source: "api", reason: null, port: null }), "blocking 192.0.2.9 (api)");
  // A reason cannot pass for more of the line: quoted, its quotes escaped.
  assert.equal(banLine(p, { source: "api", reason: 'x") blocking 192.0.2.1 (port 22', port: null }), 'blocking 192.0.2.9 (api: "x\\") blocking 192.0.2.1 (port 22")');
  assert.equal(banLine(p, { source: "cli", reason: "seen in the web log", port: null }), 'blocking 192.0.2.9 (cli: "seen in the web log")');
  assert.equal(banLine(p, { source: "adopted", reason: null, port: null }), undefined);
});

test("a hit the kernel route saw has route kernel, whichever side counted it; a listener-only hit, listener", () => {
  const out: string[] = [];
  const j = new HitJoiner((r: BanRequest, n: number) => out.push(`${r.route ?? "?"} x${n}`), { holdMs: 1000, sameHitMs: 30_000, maxEntries: 10 });
  const p = parsePrefix("192.0.2.2");
  j.listenerHit(p, 23, true, 0); // direct, kernel route on
  j.listenerHit(parsePrefix("192.0.2.3"), undefined, true, 0); // behind a redirect: held for the report
  j.kernelHit(parsePrefix("192.0.2.3"), 445, false, 10);
  j.listenerHit(parsePrefix("192.0.2.4"), 23, false, 20); // kernel route off
  assert.deepEqual(out, ["kernel x1", "kernel x1", "listener x1"]);
});
