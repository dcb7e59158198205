import assert from "node:assert/strict";
import { test } from "node:test";
import { mergePages, type SortedPage } from "../../src/cluster/sorted-pages.js";

/** Keys in order, each item its key upper-cased, made when the merge reads it. */
const pageOf = (keys: readonly string[]): SortedPage<string> => ({ length: keys.length, key: (i) => keys[i] as string, item: (i) => (keys[i] as string).toUpperCase() });

void test("pages sorted one by one and merged give every item once, in key order, a page at a time", () => {
  const keys = Array.from({ length: 1_000 }, (_, i) => `k${(i * 7919) % 1_000}`);
  const pages: SortedPage<string>[] = [];
  for (let i = 0; i < keys.length; i += 130) pages.push(pageOf(keys.slice(i, i + 130).sort()));
  pages.push(pageOf([]));
  const out = [...mergePages(pages, 100)];
  assert.deepEqual(out.map((p) => p.length), [...Array<number>(10).fill(100)]);
  assert.deepEqual(out.flat(), [...keys].sort().map((k) => k.toUpperCase()));
  assert.deepEqual([...mergePages([], 10)], []);
});
