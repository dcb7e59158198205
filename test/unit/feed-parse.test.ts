import assert from "node:assert/strict";
import { test } from "node:test";
import { FeedParser, MAX_LINE, type FeedRules } from "../../src/feeds/parse.js";
import { formatPrefix, overlaps, parsePrefix, widen, type Prefix } from "../../src/net/address.js";
import { AllowList } from "../../src/policy/allow.js";
import type { HostAddress } from "../../src/policy/host-addresses.js";
import { Policy } from "../../src/policy/policy.js";
import { feedRules } from "../../src/feeds/rules.js";

const OURS = parsePrefix("192.0.2.1");
const ALLOWED = parsePrefix("198.51.100.0/24");

function rules(over: Partial<FeedRules> = {}): FeedRules {
  return {
    maxEntries: 1000,
    minPrefixV4: 8,
    minPrefixV6: 19,
    ours: (p: Prefix) => overlaps(p, OURS),
    allowed: (p: Prefix) => overlaps(p, ALLOWED),
    asBanned: (p: Prefix) => (p.family === 6 && p.length === 128 ? widen(p, 64) : p),
    ...over,
  };
}

async function parse(text: string | Buffer[], over: Partial<FeedRules> = {}) {
  const parser = new FeedParser(rules(over));
  for (const chunk of typeof text === "string" ? [Buffer.from(text)] : text) parser.push(chunk);
  const r = await parser.end();
  return { ...r, shown: r.entries.map(formatPrefix) };
}

test("feed lines: comments, trailing text, CRLF, v6 widened like a trap hit, duplicates", async () => {
  const r = await parse("# Spamhaus DROP\r\n203.0.113.0/24 ; SBL123\r\n;comment\n  198.18.0.7   some words\n198.18.0.7\n2001:db8:5::9\n\n");
  assert.deepEqual(r.shown, ["203.0.113.0/24", "198.18.0.7", "2001:db8:5::/64"]);
  assert.equal(r.duplicates, 1);
  assert.equal(r.lines, 4);
  assert.equal(r.refused.malformed, 0);
});

test("a UTF-8 byte order mark before the first line or the JSON is not part of it", async () => {
  const lines = await parse("\ufeff203.0.113.0/24\n198.18.0.7\n");
  assert.deepEqual(lines.shown, ["203.0.113.0/24", "198.18.0.7"]);
  assert.equal(lines.refused.malformed, 0);
  const json = await parse('\ufeff["203.0.113.0/24"]');
  assert.deepEqual(json.shown, ["203.0.113.0/24"]);
  // Only at the very start: one later is garbage on its line.
  const later = await parse("198.18.0.7\n\ufeff203.0.113.0/24\n");
  assert.deepEqual(later.shown, ["198.18.0.7"]);
  assert.equal(later.refused.malformed, 1);
});

test("feed lines: every kind of refusal counted", async () => {
  const r = await parse(
    ["0.0.0.0/0", "::/0", "10.0.0.0/7", "127.0.0.1", "::1", "169.254.1.1", "fe80::1", "224.0.0.1", "ff02::1", "0.0.0.0", "192.0.2.1", "192.0.2.0/24", "198.51.100.7", "not-an-address", "!198.18.0.1", "203.0.113.5/24", "198.18.1.1"].join("\n"),
  );
  assert.deepEqual(r.shown, ["198.18.1.1"]);
  assert.deepEqual(r.refused, { malformed: 3, too_wide: 3, loopback: 2, link_local: 2, multicast: 2, unspecified: 1, ours: 2, allowed: 1, over_limit: 0 });
  assert.equal(r.examples.length, 5);
});

test("feed lines: a 10 MB line and binary garbage are refused without being kept, the rest still read", async () => {
  const big = Buffer.alloc(10 * 1024 * 1024, 0x41);
  const garbage = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 256));
  // Split across chunks, as a socket delivers it.
  const r = await parse([Buffer.from("198.18.0.1\n198.18"), Buffer.from(".0.2\n"), big.subarray(0, 4096), big.subarray(4096), Buffer.from("\n198.18.0.3\n"), garbage, Buffer.from("\n198.18.0.4")]);
  assert.deepEqual(r.shown, ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"]);
  assert.ok(r.refused.malformed >= 2, JSON.stringify(r.refused));
  assert.ok(r.examples.some((e) => e.includes(`longer than ${MAX_LINE} bytes`)), r.examples.join("\n"));
});

test("feed lines: the first max_entries are kept, the rest counted; nested entries are one", async () => {
  const lines = Array.from({ length: 50 }, (_, i) => `198.18.0.${i + 1}`);
  const r = await parse([...lines, "198.19.0.0/16", "198.19.4.0/24", "198.19.5.5"].join("\n"), { maxEntries: 53 });
  assert.equal(r.entries.length, 51);
  assert.equal(r.covered, 2);
  assert.equal(r.refused.over_limit, 0);
  const limited = await parse(lines.join("\n"), { maxEntries: 10 });
  assert.deepEqual(limited.shown, lines.slice(0, 10));
  assert.equal(limited.refused.over_limit, 40);
});

test("iblock's JSON: an array of strings, or bans with a prefix; both checked like lines", async () => {
  assert.deepEqual((await parse('["198.18.0.1", "203.0.113.0/24", "127.0.0.1", 5]')).shown, ["198.18.0.1", "203.0.113.0/24"]);
  const obj = await parse(JSON.stringify({ bans: [{ prefix: "198.18.0.9/32", source: "trap" }, { prefix: "0.0.0.0/0" }, { nope: 1 }] }));
  assert.deepEqual(obj.shown, ["198.18.0.9"]);
  assert.equal(obj.refused.too_wide, 1);
  assert.equal(obj.refused.malformed, 1);
  assert.equal((await parse("{ broken")).refused.malformed, 1);
});

test("the digest follows the bytes, however they are chunked", async () => {
  const a = await parse("198.18.0.1\n198.18.0.2\n");
  const b = await parse([Buffer.from("198.18.0.1\n198"), Buffer.from(".18.0.2\n")]);
  assert.equal(a.digest, b.digest);
  assert.notEqual(a.digest, (await parse("198.18.0.1\n")).digest);
  assert.equal((await parse("")).entries.length, 0);
});

test("a large JSON list is checked in slices: other work runs in between", async () => {
  const parser = new FeedParser(rules({ maxEntries: 100_000 }));
  const list = Array.from({ length: 50_000 }, (_, i) => `198.18.${i >> 8}.${i & 255}`);
  parser.push(Buffer.from(JSON.stringify(list)));
  let turns = 0;
  let running = true;
  const other = (): void => {
    turns++;
    if (running) setImmediate(other);
  };
  setImmediate(other);
  const r = await parser.end();
  running = false;
  assert.equal(r.entries.length, 50_000);
  // 50,000 items in slices of 2,000, and as many again for the covered check.
  assert.ok(turns >= 40, `only ${turns} turns of other work while 50,000 entries were checked`);
});

test("a feed's entries meet the host's gateways and resolvers as a manual ban does, widened or not", async () => {
  const host: HostAddress[] = [
    { prefix: parsePrefix("192.0.2.1"), role: "gateway", from: "/proc/net/route" },
    { prefix: parsePrefix("198.18.0.53"), role: "resolver", from: "/run/systemd/resolve/resolv.conf" },
  ];
  const policy = new Policy(new AllowList([]), { ipv4: 24, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => host);
  const r = await parse("192.0.2.0/24\n198.18.0.53\n198.18.0.0/16\n198.18.0.77\n203.0.113.5\n", feedRules(policy, { max_entries: 100, min_prefix_v4: 8, min_prefix_v6: 19 }));
  // The networks holding them and the resolver itself refused; a neighbour of the resolver banned alone, not as its /24.
  assert.deepEqual(r.shown, ["198.18.0.77", "203.0.113.0/24"]);
  assert.equal(r.refused.ours, 3);
  assert.match(r.examples.join("\n"), /192\.0\.2\.0\/24 holds an address, gateway or resolver of this host/);
});
