import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPrefix, overlaps, parsePrefix, peerPrefix, widen } from "../../src/net/address.js";
import { storedPrefix } from "../../src/store/store.js";
import { EX_DATAERR, IblockError } from "../../src/errors.js";

test("parsePrefix accepts addresses and CIDRs and re-prints them canonically", () => {
  assert.deepEqual(parsePrefix("203.0.113.7"), { family: 4, address: "203.0.113.7", length: 32 });
  assert.deepEqual(parsePrefix("198.51.100.0/24"), { family: 4, address: "198.51.100.0", length: 24 });
  assert.deepEqual(parsePrefix("2001:DB8:0:0::1"), { family: 6, address: "2001:db8::1", length: 128 });
  assert.deepEqual(parsePrefix("2001:db8:1::/64"), { family: 6, address: "2001:db8:1::", length: 64 });
  assert.deepEqual(parsePrefix("::ffff:192.0.2.9"), { family: 4, address: "192.0.2.9", length: 32 });
  assert.equal(formatPrefix(parsePrefix("192.0.2.9")), "192.0.2.9");
  assert.equal(formatPrefix(parsePrefix("2001:db8::/48")), "2001:db8::/48");
});

test("parsePrefix refuses everything else with EX_DATAERR", () => {
  for (const bad of [
    "203.0.113.9; reboot",
    "203.0.113.9 203.0.113.10",
    "",
    "example.org",
    "0x7f.1",
    "127.1",
    "010.1.1.1",
    "256.1.1.1",
    "203.0.113.0/33",
    "203.0.113.0/-1",
    "203.0.113.0/",
    "2001:db8::/129",
    "203.0.113.7/24",
    "$(reboot)",
    "-h",
  ]) {
    assert.throws(
      () => parsePrefix(bad),
      (e: unknown) => e instanceof IblockError && e.exitCode === EX_DATAERR,
      bad,
    );
  }
  assert.throws(() => parsePrefix("203.0.113.7/24"), /did you mean 203\.0\.113\.0\/24/);
});

test("peerPrefix: mapped IPv4, zones, missing address", () => {
  assert.deepEqual(peerPrefix("::ffff:198.51.100.4"), { family: 4, address: "198.51.100.4", length: 32 });
  assert.deepEqual(peerPrefix("fe80::1%eth0"), { family: 6, address: "fe80::1", length: 128 });
  assert.equal(peerPrefix(undefined), null);
  assert.equal(peerPrefix("garbage"), null);
});

test("widen and overlaps", () => {
  assert.equal(formatPrefix(widen(parsePrefix("2001:db8:1:2:3:4:5:6"), 64)), "2001:db8:1:2::/64");
  assert.equal(formatPrefix(widen(parsePrefix("203.0.113.77"), 24)), "203.0.113.0/24");
  assert.equal(formatPrefix(widen(parsePrefix("203.0.113.0/24"), 32)), "203.0.113.0/24");
  assert.ok(overlaps(parsePrefix("203.0.113.0/24"), parsePrefix("203.0.113.9")));
  assert.ok(overlaps(parsePrefix("203.0.113.9"), parsePrefix("203.0.113.0/24")));
  assert.ok(!overlaps(parsePrefix("203.0.113.0/24"), parsePrefix("198.51.100.1")));
  assert.ok(!overlaps(parsePrefix("203.0.113.0/24"), parsePrefix("2001:db8::1")));
});

test("storedPrefix reads the store's own keys as parsePrefix would, and hands anything else to the full parse", () => {
  for (const key of ["203.0.113.7/32", "198.51.100.0/24", "2001:db8:0:1::/64", "2001:db8::1/128", "::/0"]) {
    assert.deepEqual(storedPrefix(key), parsePrefix(key), key);
  }
  for (const bad of ["1.2.3.4/32; flush ruleset", "1.2.3.4/32 }", "example.com/32", "1.2.3.4"]) {
    if (bad === "1.2.3.4") assert.deepEqual(storedPrefix(bad), parsePrefix(bad));
    else assert.throws(() => storedPrefix(bad), bad);
  }
});
