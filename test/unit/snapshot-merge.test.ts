import assert from "node:assert/strict";
import { test } from "node:test";
import { sign, snapshotDetail } from "../../src/cluster/message.js";
import { mergePages } from "../../src/cluster/snapshot/merge.js";
import { checkPage } from "../../src/cluster/snapshot/page.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const detail = (prefix: string, origin: string, reason: string): string =>
  snapshotDetail("test", sign(secret, "test", { origin, kind: "ban", prefix, expires: "", reason, port: "", at: "1700000000000", seq: "1700000000000000" }));

void test("pages sorted one by one and merged give every entry once, in field order, a batch at a time, each its own message", () => {
  // 1,000 addresses in a scrambled order, each with its origin and reason from its number.
  const n = Array.from({ length: 1_000 }, (_, i) => (i * 7919) % 1_000);
  const field = (k: number): string => `198.51.${100 + Math.floor(k / 250)}.${k % 250}/32`;
  const pages = [];
  for (let i = 0; i < n.length; i += 130) {
    const flat = n.slice(i, i + 130).flatMap((k) => [field(k), detail(field(k), `o${k % 3}`, `r${k % 5}`)]);
    // A refused entry goes through in its place too.
    if (i === 0) flat.push("198.51.100.0/31", "{not json");
    pages.push(checkPage(secret, "test", flat));
  }
  pages.push(checkPage(secret, "test", []));
  const out = [...mergePages(pages, 100)];
  assert.deepEqual(out.map((p) => p.length), [...Array<number>(10).fill(100), 1]);
  const entries = out.flat();
  assert.deepEqual(entries.map((e) => e.field), [...n.map(field), "198.51.100.0/31"].sort());
  for (const e of entries) {
    if (!e.ok) {
      assert.equal(e.field, "198.51.100.0/31");
      continue;
    }
    const k = Number(e.field.split(".")[3]?.split("/")[0]) + 250 * (Number(e.field.split(".")[2]) - 100);
    assert.equal(`${e.message.prefix.address}/32`, e.field);
    assert.deepEqual([e.message.origin, e.message.reason], [`o${k % 3}`, `r${k % 5}`]);
  }
  assert.deepEqual([...mergePages([], 10)], []);
});
