import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/net/address.js";
import { AllowList } from "../../src/policy/allow.js";
import { BanRefused, IMPORT_MIN_LENGTH, Policy } from "../../src/policy/policy.js";
import type { HostAddress } from "../../src/policy/host-addresses.js";
import { EX_DATAERR, IblockError } from "../../src/errors.js";

const policy = new Policy(new AllowList(["198.51.100.0/24", "2001:db8:ffff::5/128"]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => []);
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
  assert.deepEqual(list.prefixes.map(formatPrefix).sort(), ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "198.51.0.0/16", "::", "::1", "fe80::/10"]);
});

test("a manual ban wider than max_manual_v4/v6 is refused with the limit and its key, before the allow list is looked at", () => {
  const refused = (a: string, words: RegExp): void =>
    assert.throws(() => policy.forManual(parsePrefix(a)), (e: unknown) => e instanceof BanRefused && e.exitCode === EX_DATAERR && e.statusCode === 403 && words.test(e.message), a);
  refused("0.0.0.0/0", /0\.0\.0\.0\/0 is wider than \/16 \(max_manual_v4\)/);
  refused("0.0.0.0/2", /wider than \/16 \(max_manual_v4\)/);
  // An IPv4-mapped prefix is the IPv4 network it covers: ::ffff:0.0.0.0/98 is 0.0.0.0/2.
  refused("::ffff:0.0.0.0/98", /0\.0\.0\.0\/2 is wider than \/16 \(max_manual_v4\)/);
  refused("2001:db8::/31", /wider than \/32 \(max_manual_v6\)/);
  assert.equal(formatPrefix(policy.forManual(parsePrefix("203.0.0.0/16"))), "203.0.0.0/16");
  assert.equal(formatPrefix(policy.forManual(parsePrefix("2001:db9::/32"))), "2001:db9::/32");
});

test("force lets a wide ban through, but never over this host's addresses, gateways or resolvers, nor the allow list", () => {
  const host: HostAddress[] = [{ prefix: parsePrefix("192.0.2.53"), role: "resolver", from: "/etc/resolv.conf" }];
  const p = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => host);
  assert.equal(formatPrefix(p.forManual(parsePrefix("203.0.0.0/12"), { force: true })), "203.0.0.0/12");
  for (const force of [false, true]) {
    assert.throws(() => p.forManual(parsePrefix("192.0.2.0/24"), { force }), { message: "refusing to ban: 192.0.2.0/24 covers this host's resolver 192.0.2.53 (/etc/resolv.conf)" });
  }
  assert.throws(() => p.forManual(parsePrefix("192.0.0.0/8"), { force: true }), /192\.0\.0\.0\/8 covers this host's resolver/);
  // Forced past the width, 0.0.0.0/0 meets the allow list's loopback first.
  assert.throws(() => p.forManual(parsePrefix("0.0.0.0/0"), { force: true }), /0\.0\.0\.0\/0 is in the allow list \(127\.0\.0\.0\/8\)/);
  assert.throws(() => p.forManual(parsePrefix("127.0.0.0/9"), { force: true }), /allow list \(127\.0\.0\.0\/8\)/);
});

test("the host's addresses are read again at each manual ban", () => {
  let host: HostAddress[] = [];
  const p = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => host);
  assert.equal(formatPrefix(p.forManual(parsePrefix("198.18.0.1"))), "198.18.0.1");
  host = [{ prefix: parsePrefix("198.18.0.1"), role: "gateway", from: "/proc/net/route" }];
  assert.throws(() => p.forManual(parsePrefix("198.18.0.1")), /gateway 198\.18\.0\.1/);
});

test("a plain address is not widened over this host's resolver, gateway or own address: banned alone, by hand or by a trap hit", () => {
  const host: HostAddress[] = [
    { prefix: parsePrefix("2001:db8:4860::8888"), role: "resolver", from: "/etc/resolv.conf" },
    { prefix: parsePrefix("192.0.2.1"), role: "gateway", from: "/proc/net/route" },
    { prefix: parsePrefix("192.0.2.10"), role: "address", from: "eth0" },
  ];
  // allow_self off: only the host check stands between a /24 and the host's own network.
  const p = new Policy(new AllowList([]), { ipv4: 24, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => host);
  for (const a of ["2001:db8:4860::1", "192.0.2.77"]) {
    assert.equal(formatPrefix(p.forManual(parsePrefix(a))), a, `manual ${a}`);
    assert.equal(formatPrefix(p.forHit(parsePrefix(a)) as Prefix), a, `hit ${a}`);
    assert.equal(formatPrefix(p.asBanned(parsePrefix(a))), a, `recorded ${a}`);
  }
  // Elsewhere the widening holds.
  assert.equal(formatPrefix(p.forManual(parsePrefix("2001:db8:4861::1"))), "2001:db8:4861::/64");
  assert.equal(formatPrefix(p.forHit(parsePrefix("198.51.100.7")) as Prefix), "198.51.100.0/24");
  // The host's own addresses themselves are still refused by hand.
  assert.throws(() => p.forManual(parsePrefix("192.0.2.1"), { force: true }), { message: "refusing to ban: 192.0.2.1 covers this host's gateway 192.0.2.1 (/proc/net/route)" });
  assert.throws(() => p.forManual(parsePrefix("2001:db8:4860::8888")), /resolver 2001:db8:4860::8888/);
});

test("an import's floor (/8, /19) holds whatever --force says; the manual limit is lifted by it", () => {
  const p = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => []);
  const rules = { force: true, host: p.hostFacts(), floor: IMPORT_MIN_LENGTH };
  assert.deepEqual(p.manualBan(parsePrefix("128.0.0.0/1"), rules).refusal, { kind: "too_wide", why: "128.0.0.0/1 is wider than /8, the widest an import takes (--force or not)" });
  assert.equal(p.manualBan(parsePrefix("2000::/18"), rules).refusal?.kind, "too_wide");
  assert.equal(formatPrefix(p.manualBan(parsePrefix("10.0.0.0/8"), rules).prefix as Prefix), "10.0.0.0/8");
  assert.equal(formatPrefix(p.manualBan(parsePrefix("2001::/19"), rules).prefix as Prefix), "2001::/19");
  assert.equal(p.manualBan(parsePrefix("10.0.0.0/8"), { ...rules, force: false }).refusal?.kind, "too_wide");
});
