import type { SnapshotEntry } from "./entry.js";
import { entryAt, type CheckedPage } from "./page.js";

/**
 * The entries of a window of pages, each sorted by field name, merged into
 * field order `size` at a time: a heap of the pages' heads, O(n log pages).
 * An entry is read out of its page's columns only when the merge takes it.
 *
 * Why sorted: a fleet's snapshot comes in hash order, and its bans inserted as
 * they come touch every page of the store's prefix index in each transaction
 * (a million took 18 s, in prefix order 4 s); a host writes the prefix as the
 * field name, so in field order each transaction touches a few neighbouring
 * index pages.
 */
export function* mergePages(pages: readonly CheckedPage[], size: number): Generator<SnapshotEntry[]> {
  // Heap of [page, position], ordered by the field at that position.
  const heap: [number, number][] = [];
  const fieldAt = (h: [number, number]): string => (pages[h[0]] as CheckedPage).fields[h[1]] as string;
  const less = (a: [number, number], b: [number, number]): boolean => fieldAt(a) < fieldAt(b);
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l] as [number, number], heap[m] as [number, number])) m = l;
      if (r < heap.length && less(heap[r] as [number, number], heap[m] as [number, number])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m] as [number, number], heap[i] as [number, number]];
      i = m;
    }
  };
  pages.forEach((p, i) => {
    if (p.fields.length) heap.push([i, 0]);
  });
  for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) down(i);
  let out: SnapshotEntry[] = [];
  while (heap.length) {
    const top = heap[0] as [number, number];
    const page = pages[top[0]] as CheckedPage;
    out.push(entryAt(page, top[1]));
    if (++top[1] >= page.fields.length) {
      const last = heap.pop() as [number, number];
      if (heap.length) heap[0] = last;
    }
    if (heap.length) down(0);
    if (out.length >= size) {
      yield out;
      out = [];
    }
  }
  if (out.length) yield out;
}
