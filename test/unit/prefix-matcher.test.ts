import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPrefix, overlaps, parsePrefix } from "../../src/net/address.js";
import { PrefixMatcher } from "../../src/policy/prefix-matcher.js";

const NETS = ["0.0.0.0/8", "198.18.0.0/15", "203.0.113.128/25", "255.255.255.255/32", "2001:db8:ff::/48", "::/128"];
const matcher = new PrefixMatcher(NETS.map(parsePrefix));
const hit = (a: string): string | undefined => {
  const p = matcher.match(parsePrefix(a));
  return p && formatPrefix(p);
};

test("a prefix matches the network it shares an address with, inside or around it, in either family", () => {
  assert.equal(hit("198.19.255.255"), "198.18.0.0/15");
  assert.equal(hit("198.0.0.0/8"), "198.18.0.0/15", "wider than the network");
  assert.equal(hit("203.0.113.128"), "203.0.113.128/25");
  assert.equal(hit("203.0.113.127"), undefined, "just below");
  assert.equal(hit("203.0.113.0/24"), "203.0.113.128/25");
  // Addresses with the top bit set are compared as 32-bit ints, not as signed numbers that differ.
  assert.equal(hit("255.255.255.255"), "255.255.255.255");
  assert.equal(hit("255.255.255.254"), undefined);
  assert.equal(hit("0.0.0.0/0"), "0.0.0.0/8");
  assert.equal(hit("2001:db8:ff:1::7"), "2001:db8:ff::/48");
  assert.equal(hit("2001:db8:fe::/48"), undefined);
  assert.equal(hit("::/0"), "2001:db8:ff::/48");
  assert.equal(hit("::ffff:198.18.0.1"), "198.18.0.0/15", "a mapped address is its IPv4 address");
});

test("the matcher agrees with overlaps() on every pair, asked one after the other in any order", () => {
  const nets = NETS.map(parsePrefix);
  const all = new PrefixMatcher(nets);
  const some = new PrefixMatcher(nets.slice(2));
  const probes = ["192.0.2.1", "198.18.7.0/24", "203.0.113.200", "203.0.113.0/25", "255.0.0.0/8", "0.0.0.1", "2001:db8:ff::", "2001:db8::/32", "2001:db8:1::/48", "::"];
  // The same probe twice and probes interleaved: the matcher keeps the last number it made.
  for (const text of [...probes, ...[...probes].reverse(), ...probes]) {
    const p = parsePrefix(text);
    const expected = nets.find((n) => overlaps(n, p));
    assert.equal(all.match(p), expected, text);
    assert.equal(some.match(p), nets.slice(2).find((n) => overlaps(n, p)), text);
  }
});
