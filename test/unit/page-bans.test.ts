import assert from "node:assert/strict";
import { test } from "node:test";
import { sign, snapshotDetail, type Message } from "../../src/cluster/message.js";
import { PageBans } from "../../src/cluster/page-bans.js";
import { checkPage, resultAt } from "../../src/cluster/snapshot-check.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");

void test("a page's kept entries read as the bans to import, in field order, permanent or not, with or without a port", () => {
  const messages: Message[] = [
    { origin: "b", kind: "ban", prefix: "198.51.100.0/24", expires: "1800000000000", reason: "trap 23", port: "23", at: "1700000000001", seq: "1700000000001000" },
    { origin: "a", kind: "ban", prefix: "2001:db8:7::/48", expires: "", reason: "cli", port: "", at: "1700000000000", seq: "1700000000000000" },
    { origin: "a", kind: "ban", prefix: "192.0.2.9/32", expires: "", reason: "trap", port: "445", at: "1700000000000", seq: "1700000000000000" },
  ];
  const page = checkPage(secret, "test", messages.flatMap((m) => [m.prefix, snapshotDetail("test", sign(secret, "test", m))]));
  assert.deepEqual(page.fields, ["192.0.2.9/32", "198.51.100.0/24", "2001:db8:7::/48"]);
  const bans = new PageBans(page, [0, 2]);
  assert.equal(bans.length, 2);
  assert.deepEqual([bans.key(0), bans.key(1)], ["192.0.2.9/32", "2001:db8:7::/48"]);
  assert.deepEqual(bans.item(0), { prefix: { family: 4, address: "192.0.2.9", length: 32 }, expires_at: null, reason: "a: trap", port: 445, origin: "a" });
  assert.deepEqual(bans.item(1), { prefix: { family: 6, address: "2001:db8:7::", length: 48 }, expires_at: null, reason: "a: cli", port: null, origin: "a" });
  const expiring = new PageBans(page, [1]);
  assert.deepEqual(expiring.item(0), { prefix: { family: 4, address: "198.51.100.0", length: 24 }, expires_at: 1800000000000, reason: "b: trap 23", port: 23, origin: "b" });
});

void test("each ban's stored reason is its own origin's and reason, however the pairs interleave", () => {
  const pairs = [["a", "trap"], ["a", "trap"], ["b", "trap"], ["a", "cli"], ["b", "cli"], ["b", "trap"]] as const;
  const messages: Message[] = pairs.map(([origin, reason], i) => ({ origin, kind: "ban", prefix: `192.0.2.${i + 1}/32`, expires: "", reason, port: "", at: "1700000000000", seq: "1700000000000000" }));
  const page = checkPage(secret, "test", messages.flatMap((m) => [m.prefix, snapshotDetail("test", sign(secret, "test", m))]));
  const kept = page.fields.map((_, i) => i);
  const bans = new PageBans(page, kept);
  for (let j = 0; j < kept.length; j++) {
    const m = resultAt(page, j);
    assert.ok(typeof m !== "string");
    assert.deepEqual(bans.item(j), { prefix: m.prefix, expires_at: m.expiresAt, reason: `${m.origin}: ${m.reason}`, port: m.port ?? null, origin: m.origin });
  }
  assert.deepEqual(kept.map((j) => bans.item(j).reason), ["a: trap", "a: trap", "b: trap", "a: cli", "b: cli", "b: trap"]);
});
