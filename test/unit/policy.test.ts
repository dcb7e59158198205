import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPrefix, parsePrefix } from "../../src/policy/address.js";
import { AllowList } from "../../src/policy/allow.js";
import { Policy } from "../../src/policy/policy.js";
import { EX_DATAERR, IblockError } from "../../src/errors.js";

const policy = new Policy(new AllowList(["198.51.100.0/24", "2001:db8:ffff::5/128"]), { ipv4: 32, ipv6: 64 });
const hit = (a: string): string | undefined => {
  const p = policy.forHit(parsePrefix(a));
  return p && formatPrefix(p);
};

test("loopback, link-local and configured networks are never banned", () => {
  for (const a of ["127.0.0.1", "127.9.9.9", "::1", "fe80::1", "169.254.3.3", "198.51.100.7"]) assert.equal(hit(a), undefined, a);
  assert.equal(hit("203.0.113.7"), "203.0.113.7");
});

test("an IPv6 scanner is banned as its /64, unless that would cover an allowed address", () => {
  assert.equal(hit("2001:db8:1:2::99"), "2001:db8:1:2::/64");
  assert.equal(hit("2001:db8:ffff::6"), "2001:db8:ffff::6");
  assert.equal(hit("2001:db8:ffff::5"), undefined);
});

test("a manual ban of an allowed address is refused with the reason", () => {
  assert.throws(
    () => policy.forManual(parsePrefix("198.51.100.9")),
    (e: unknown) => e instanceof IblockError && e.exitCode === EX_DATAERR && e.message.includes("198.51.100.0/24"),
  );
  assert.throws(() => policy.forManual(parsePrefix("198.51.0.0/16")), /allow list/);
  assert.equal(formatPrefix(policy.forManual(parsePrefix("203.0.113.0/24"))), "203.0.113.0/24");
  assert.equal(formatPrefix(policy.forManual(parsePrefix("2001:db8:7::1"))), "2001:db8:7::/64");
});

test("the allow list keeps the widest entries only (nftables refuses overlapping intervals)", () => {
  const list = new AllowList(["127.0.0.1", "198.51.100.0/24", "198.51.100.7", "198.51.0.0/16", "fe80::1"]);
  assert.deepEqual(list.prefixes.map(formatPrefix).sort(), ["127.0.0.0/8", "169.254.0.0/16", "198.51.0.0/16", "::1", "fe80::/10"]);
});
