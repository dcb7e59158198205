// A ban a feed or a peer holds becomes ours when we decide on it too (a trap
// hit, `iblock ban`): the feed dropping the entry, or the peer lifting its ban,
// must not end a ban we made.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";
import { DEFAULT_RULES, hitPolicy } from "../../src/bans/rules.js";

const DAY = 86_400_000;
const rules = { ...DEFAULT_RULES, times: { banMs: DAY, multiplier: 2, maxMs: 30 * DAY } };

for (const holder of ["feed:drop", "peer"]) {
  void test(`a cli ban on a ${holder} ban takes it over, with its own length`, () => {
    const store = new Store(":memory:");
    const p = parsePrefix("198.51.100.7");
    store.importBans([p], { source: holder, reason: "listed", durationMs: Infinity });
    const at = Date.now();
    const created = store.recordHits([{ prefix: p, ports: new Map([[0, 1]]), source: "cli", reason: "seen by hand", at }], hitPolicy(rules));
    assert.equal(created.length, 1, "applied again, with the new timeout");
    const row = store.openBan(p);
    assert.equal(row?.source, "cli");
    assert.equal(row?.reason, "seen by hand");
    assert.equal(row?.expires_at, at + DAY);
    store.close();
  });
}

void test("a hit of one feed on another feed's ban, or a peer's on a feed's, changes no owner", () => {
  const store = new Store(":memory:");
  const p = parsePrefix("198.51.100.8");
  store.importBans([p], { source: "feed:a", reason: null, durationMs: Infinity });
  const created = store.recordHits([{ prefix: p, ports: new Map([[0, 1]]), source: "peer", at: Date.now() }], hitPolicy(rules));
  assert.equal(created.length, 0);
  assert.equal(store.openBan(p)?.source, "feed:a");
  store.close();
});
