import assert from "node:assert/strict";
import { test } from "node:test";
import { mergePages, type Keyed } from "../../src/cluster/sorted-pages.js";

void test("pages sorted one by one and merged give every item once, in key order, a page at a time", () => {
  const keys = Array.from({ length: 1_000 }, (_, i) => `k${(i * 7919) % 1_000}`);
  const pages: Keyed<string>[][] = [];
  for (let i = 0; i < keys.length; i += 130) pages.push(keys.slice(i, i + 130).sort().map((key) => ({ key, item: key.toUpperCase() })));
  pages.push([]);
  const out = [...mergePages(pages, 100)];
  assert.deepEqual(out.map((p) => p.length), [...Array<number>(10).fill(100)]);
  assert.deepEqual(out.flat(), [...keys].sort().map((k) => k.toUpperCase()));
  assert.deepEqual([...mergePages([], 10)], []);
});
