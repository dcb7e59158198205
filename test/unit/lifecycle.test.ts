import assert from "node:assert/strict";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import { validateConfig } from "../../src/config.js";
import { NoFirewall } from "../../src/firewall/none.js";
import { Logger } from "../../src/log.js";
import { formatPrefix, parsePrefix } from "../../src/net/address.js";
import { banDuration, formatDuration, parseDuration } from "../../src/policy/duration.js";
import { activeBans, held } from "../support/held.js";
import { Store, type HitGroup } from "../../src/store/store.js";
import { banRulesFor, hitPolicy, DEFAULT_RULES } from "../../src/bans/rules.js";

const H = 3_600_000;

test("durations", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("24h"), 24 * H);
  assert.equal(parseDuration("7d"), 7 * 24 * H);
  assert.equal(parseDuration("permanent"), Infinity);
  for (const bad of ["", "0s", "1w", "10", "h", "-5m", "1.5h", "24 h", "forever", "3651d", "999999999d"]) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(formatDuration(90_000), "90s");
  assert.equal(formatDuration(2 * H), "2h");
  assert.equal(formatDuration(Infinity), "permanent");
});

test("ban times in the config: defaults and refusals", () => {
  const c = validateConfig({}, "t");
  assert.equal(c.ban_time, 24 * H);
  assert.equal(c.ban_time_max, 30 * 24 * H);
  assert.equal(c.threshold_window, H);
  assert.equal(c.syn_ban_time, H);
  assert.equal(c.reconcile_interval, 60_000);
  assert.equal(validateConfig({ ban_time: "permanent" }, "t").ban_time, Infinity);
  assert.throws(() => validateConfig({ ban_time: "1 day" }, "t"), /"ban_time".*"1 day".*duration/);
  assert.throws(() => validateConfig({ reconcile_interval: "permanent" }, "t"), /"reconcile_interval"/);
  assert.throws(() => validateConfig({ threshold: 0 }, "t"), /"threshold"/);
  assert.throws(() => validateConfig({ aggregate_ipv4: 1 }, "t"), /"aggregate_ipv4"/);
});

test("escalation: ban_time x multiplier^(n-1), capped", () => {
  const t = { banMs: H, multiplier: 2, maxMs: 5 * H };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => banDuration(n, t) / H), [1, 2, 4, 5, 5]);
  assert.equal(banDuration(3, { banMs: Infinity, multiplier: 2, maxMs: H }), Infinity);
});

const hit = (addr: string, at: number, port = 23, source = "trap"): HitGroup => ({
  prefix: parsePrefix(addr),
  ports: new Map([[port, 1]]),
  source,
  at,
});

test("store: a repeat offender's next ban lasts longer; an expired ban ends and stays as history", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ ban_time: "1h", ban_time_max: "3h" }, "t"));
  const t0 = 1_000_000_000_000;
  const [first] = store.recordHits([hit("203.0.113.7", t0)], hitPolicy(rules));
  assert.equal(first?.expires_at, t0 + H);
  assert.deepEqual(store.endExpired(t0 + H - 1), []);
  assert.equal(store.endExpired(t0 + H)[0]?.prefix, "203.0.113.7/32");
  const [second] = store.recordHits([hit("203.0.113.7", t0 + 2 * H)], hitPolicy(rules));
  assert.equal(second?.expires_at, t0 + 2 * H + 2 * H);
  store.endExpired(t0 + 10 * H);
  const [third] = store.recordHits([hit("203.0.113.7", t0 + 11 * H)], hitPolicy(rules));
  assert.equal(third?.expires_at, t0 + 11 * H + 3 * H, "capped by ban_time_max");
  // Two ended, one in force: all of them, in order, and the last is the one in force.
  const p = parsePrefix("203.0.113.7");
  assert.deepEqual(
    store.history(p).bans.map((b) => [b.expires_at, b.ended_at === null]),
    [
      [t0 + H, false],
      [t0 + 4 * H, false],
      [t0 + 14 * H, true],
    ],
  );
  assert.equal(store.lastBan(p)?.expires_at, t0 + 14 * H);
  store.endBan(p, { kind: "unban", reason: "unban" }, t0 + 12 * H);
  assert.equal(store.lastBan(p)?.end_reason, "unban");
});

test("store: threshold counts hits within the window; the CLI is not held back", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ threshold: 3, threshold_window: "10m" }, "t"));
  const t0 = 1_000_000_000_000;
  assert.equal(store.recordHits([hit("198.51.100.1", t0, 21)], hitPolicy(rules)).length, 0);
  assert.equal(store.recordHits([hit("198.51.100.1", t0 + 1000, 23)], hitPolicy(rules)).length, 0);
  // a third hit outside the window of the first does not make three
  assert.equal(store.recordHits([hit("198.51.100.1", t0 + 11 * 60_000, 25)], hitPolicy(rules)).length, 0);
  assert.equal(store.recordHits([hit("198.51.100.1", t0 + 11 * 60_000 + 1, 26)], hitPolicy(rules)).length, 0);
  assert.equal(store.recordHits([hit("198.51.100.1", t0 + 11 * 60_000 + 2, 27)], hitPolicy(rules)).length, 1);
  assert.equal(store.recordHits([hit("198.51.100.2", t0, 0, "cli")], hitPolicy(rules)).length, 1);
});

test("store: SYN bans get syn_ban_time; pruning forgets old history", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ ban_time: "24h", syn_ban_time: "15m" }, "t"));
  const t0 = 1_000_000_000_000;
  const [syn] = store.recordHits([hit("192.0.2.40", t0, 23, "syn")], hitPolicy(rules));
  assert.equal(syn?.expires_at, t0 + 15 * 60_000);
  store.endExpired(t0 + H);
  const pruned = store.prune(t0 + 2 * H);
  assert.deepEqual(pruned, { events: 3, bans: 1 }); // hit, ban, end
  assert.equal(store.history(parsePrefix("192.0.2.40")).bans.length, 0);
});

test("queue: aggregate_ipv4 turns N banned addresses of a /24 into one /24 ban", async () => {
  const store = new Store(":memory:");
  const fw = new NoFirewall();
  const queue = new BanQueue(store, fw, new Logger(() => undefined), banRulesFor(validateConfig({}, "t")), { ipv4: 3 });
  for (const a of ["203.0.113.1", "203.0.113.2"]) queue.submit({ prefix: parsePrefix(a), source: "trap" });
  assert.ok(await queue.drain());
  assert.equal(activeBans(store).length, 2);
  queue.submit({ prefix: parsePrefix("203.0.113.3"), source: "trap" });
  queue.submit({ prefix: parsePrefix("198.51.100.3"), source: "trap" });
  assert.ok(await queue.drain());
  assert.deepEqual(activeBans(store).map((r) => r.prefix).sort(), ["198.51.100.3/32", "203.0.113.0/24"]);
  assert.deepEqual((await held(fw)).map(formatPrefix).sort(), ["198.51.100.3", "203.0.113.0/24"]);
  queue.close();
});

test("store: activeWithin finds the bans inside a network, zero groups and all", () => {
  const store = new Store(":memory:");
  const t0 = Date.now();
  for (const a of ["2001:db8:0:1::5", "2001:db8::7", "2001:db8:0:2::9", "203.0.113.5", "203.0.11.5"]) {
    store.recordHits([hit(a, t0, 23, "cli")], hitPolicy(DEFAULT_RULES));
  }
  const inside = (net: string): string[] => store.activeWithin(parsePrefix(net)).map((r) => r.prefix).sort();
  assert.deepEqual(inside("2001:db8:0:1::/64"), ["2001:db8:0:1::5/128"]);
  assert.deepEqual(inside("2001:db8::/64"), ["2001:db8::7/128"]);
  assert.deepEqual(inside("2001:db8::/32"), ["2001:db8:0:1::5/128", "2001:db8:0:2::9/128", "2001:db8::7/128"]);
  assert.deepEqual(inside("203.0.113.0/24"), ["203.0.113.5/32"]);
  assert.deepEqual(inside("198.51.100.0/24"), []);
});
