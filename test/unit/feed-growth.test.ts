import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrefix } from "../../src/net/address.js";
import { coverage, suspectChange } from "../../src/feeds/growth.js";

const size = (prefixes: string[]) => ({ entries: prefixes.length, covers: coverage(prefixes.map(parsePrefix)) });
const many = (count: number, at: (i: number) => string): string[] => Array.from({ length: count }, (_, i) => at(i));

test("what a list covers: IPv4 in addresses, IPv6 in /64 networks (a /128 is one)", () => {
  assert.deepEqual(coverage(["198.18.0.1", "198.18.1.0/24", "0.0.0.0/0"].map(parsePrefix)), { v4: 1 + 256 + 2 ** 32, v6: 0n });
  assert.deepEqual(coverage(["2001:db8::1", "2001:db8:1::/64", "2001:db8::/32", "::/0"].map(parsePrefix)), { v4: 0, v6: 1n + 1n + 2n ** 32n + 2n ** 64n });
});

test("a list held back: halved or tenfold in entries, or tenfold in what it covers, family by family", () => {
  const slash32s = size(many(1000, (i) => `10.${i >> 8}.${i & 255}.1`));
  const slash16s = size(many(1000, (i) => `${10 + (i >> 8)}.${i & 255}.0.0/16`));
  assert.equal(suspectChange(slash32s, slash16s), "grew more than tenfold in IPv4 addresses covered, from 1000 to 65536000");
  assert.equal(suspectChange(slash32s, size(many(1000, (i) => `10.${i >> 8}.${i & 255}.0/29`))), undefined, "eightfold is not held");
  const v6Addresses = size(many(100, (i) => `2001:db8:${i.toString(16)}::1`));
  const v6Nets = size(many(100, (i) => `2001:db8:${i.toString(16)}::/48`));
  assert.equal(suspectChange(v6Addresses, v6Nets), "grew more than tenfold in IPv6 /64 networks covered, from 100 to 6553600");
  assert.equal(suspectChange(size(many(100, (i) => `2001:db8:${i.toString(16)}::/64`)), v6Addresses), undefined, "a /64 and an address in it count alike");
  assert.equal(suspectChange(slash32s, size(many(400, (i) => `10.0.${i >> 8}.${i & 255}`))), "shrank from 1000 to 400 entries");
  assert.equal(suspectChange(size(many(10, (i) => `10.0.0.${i}`)), size(many(101, (i) => `10.0.0.${i}`))), "grew more than tenfold, from 10 to 101 entries");
  assert.equal(suspectChange(size([]), slash16s), undefined, "a first list is taken as it is");
});
