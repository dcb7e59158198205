import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { parsePrefix } from "../../src/net/address.js";
import { activeBans } from "../support/held.js";
import { Store, type HitGroup } from "../../src/store/store.js";
import { banRulesFor, hitPolicy } from "../../src/bans/rules.js";

const H = 3_600_000;
const t0 = 1_000_000_000_000;

const hit = (addr: string, at: number, source = "trap", durationMs?: number): HitGroup => ({
  prefix: parsePrefix(addr),
  ports: new Map([[23, 1]]),
  source,
  at,
  durationMs,
});

test("a ban inside a wider, shorter ban gets a row of its own that outlives the wider one", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ ban_time: "24h" }, "t"));
  const [wide] = store.recordHits([hit("203.0.113.64/26", t0, "cli", 60_000)], hitPolicy(rules));
  assert.equal(wide?.expires_at, t0 + 60_000);
  const [own] = store.recordHits([hit("203.0.113.70", t0 + 1000, "cli")], hitPolicy(rules));
  assert.equal(own?.prefix, "203.0.113.70/32");
  assert.equal(own?.expires_at, t0 + 1000 + 24 * H);
  // A trap hit inside the /26 from another address: the same rule.
  const [trap] = store.recordHits([hit("203.0.113.71", t0 + 2000)], hitPolicy(rules));
  assert.equal(trap?.prefix, "203.0.113.71/32");
  store.endExpired(t0 + 120_000);
  assert.ok(store.isBanned(parsePrefix("203.0.113.70"), t0 + 120_000), "the /32 outlives the /26");
  store.close();
});

test("a hit inside a wider ban that lasts longer only counts there", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ ban_time: "1h" }, "t"));
  const [wide] = store.recordHits([hit("198.51.100.0/24", t0, "cli", Infinity)], hitPolicy(rules));
  assert.deepEqual(store.recordHits([hit("198.51.100.9", t0 + 1000)], hitPolicy(rules)), []);
  assert.equal(activeBans(store, t0 + 1000).length, 1);
  assert.equal(activeBans(store, t0 + 1000)[0]?.hits, (wide?.hits ?? 0) + 1);
  store.close();
});

test("a network ban inside a wider one is not made (the firewall cannot nest them): it counts on the wider", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({}, "t"));
  store.recordHits([hit("203.0.113.0/24", t0, "cli", 60_000)], hitPolicy(rules));
  assert.deepEqual(store.recordHits([hit("203.0.113.64/28", t0 + 1000, "cli", 3_600_000)], hitPolicy(rules)), []);
  store.close();
});

test("only bans that ran their course escalate: one lifted by unban or allow does not", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ ban_time: "1h", ban_time_max: "30d" }, "t"));
  const p = parsePrefix("192.0.2.50");
  store.recordHits([hit("192.0.2.50", t0)], hitPolicy(rules));
  store.endBan(p, { kind: "unban", reason: "cli" }, t0 + 1000);
  store.recordHits([hit("192.0.2.50", t0 + 2000)], hitPolicy(rules));
  store.endBan(p, { kind: "allowed", reason: "allowed" }, t0 + 3000);
  const [third] = store.recordHits([hit("192.0.2.50", t0 + 4000)], hitPolicy(rules));
  assert.equal(third?.expires_at, t0 + 4000 + H, "two lifted bans: still a first offence");
  store.endExpired(t0 + 4000 + H);
  const [fourth] = store.recordHits([hit("192.0.2.50", t0 + 5 * H)], hitPolicy(rules));
  assert.equal(fourth?.expires_at, t0 + 5 * H + 2 * H, "one ban that ran its course: a second offence");
  store.close();
});

test("inside a wider ban made a moment later (aggregate_ipv4), late reports and hits make no ban of their own", () => {
  const store = new Store(":memory:");
  const rules = banRulesFor(validateConfig({ ban_time: "24h" }, "t"));
  store.recordHits([hit("198.18.3.3", t0)], hitPolicy(rules));
  store.recordHits([hit("198.18.3.0/24", t0 + 50, "aggregate")], hitPolicy(rules));
  store.endBan(parsePrefix("198.18.3.3"), { kind: "covered", reason: "covered by 198.18.3.0/24" }, t0 + 60);
  // The kernel's report of the connection the listener counted already: no hit of its own.
  const late: HitGroup = { ...hit("198.18.3.3", t0 + 500), ports: new Map([[23, 0]]) };
  assert.deepEqual(store.recordHits([late], hitPolicy(rules)), []);
  // A real hit seconds later would outlive the /24 by seconds only: it counts there.
  assert.deepEqual(store.recordHits([hit("198.18.3.3", t0 + 5000)], hitPolicy(rules)), []);
  assert.deepEqual(activeBans(store, t0 + 5000).map((r) => r.prefix), ["198.18.3.0/24"]);
  store.close();
});
