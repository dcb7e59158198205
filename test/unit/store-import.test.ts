import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPrefix, parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

const HOUR = 3_600_000;
const opts = { source: "peer", reason: "trap", durationMs: HOUR };
const addr = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255}`;
const shown = (bans: readonly { prefix: { family: 4 | 6; address: string; length: number } }[]): string[] => bans.map((b) => formatPrefix(b.prefix));

test("an import of many bans makes each new one once, in the order given, and says which it made", () => {
  const store = new Store(":memory:");
  store.importBans([parsePrefix(addr(7)), parsePrefix(addr(200))], opts);
  // 250 addresses: whole statements of many rows and single rows after them;
  // two of them banned already, one given twice.
  const given = [...Array.from({ length: 250 }, (_, i) => addr(i + 1)), addr(5)];
  const made = store.importBans(given.map(parsePrefix), opts);
  const expected = given.slice(0, 250).filter((a) => a !== addr(7) && a !== addr(200));
  assert.deepEqual(shown(made), expected);
  assert.equal(store.countActive(), 250);
  // Each with its own expiry, reason and port when the entry has them.
  const own = store.importBans([{ prefix: parsePrefix("203.0.113.9"), expires_at: 42_000, reason: "a: scan", port: 23 }], opts);
  assert.deepEqual(own.map((b) => [b.expires_at, b.reason, b.port]), [[42_000, "a: scan", 23]]);
});

test("an import skips what a wider ban of the same import or of the store holds, wherever it lies in the list", () => {
  const store = new Store(":memory:");
  // The /24 first: the addresses inside it that come after it are covered.
  const made = store.importBans(["198.51.100.0/24", "198.51.100.7", "192.0.2.1", "198.51.100.200", "192.0.2.2"].map(parsePrefix), opts);
  assert.deepEqual(shown(made), ["198.51.100.0/24", "192.0.2.1", "192.0.2.2"]);
  // A later import sees the /24 in the store.
  assert.deepEqual(shown(store.importBans(["198.51.100.9", "192.0.2.3"].map(parsePrefix), opts)), ["192.0.2.3"]);
  // With /24s in force already: a /24 of the same import, not yet written when the address inside it comes, holds it too.
  assert.deepEqual(shown(store.importBans(["192.0.2.9", "203.0.113.0/24", "203.0.113.5", "198.18.0.1"].map(parsePrefix), opts)), ["192.0.2.9", "203.0.113.0/24", "198.18.0.1"]);
  // A /16 after addresses inside it: those were made first and stay (the queue ends them as covered).
  const later = store.importBans(["198.19.113.5", "198.19.0.0/16", "198.19.113.6"].map(parsePrefix), opts);
  assert.deepEqual(shown(later), ["198.19.113.5", "198.19.0.0/16"]);
});
