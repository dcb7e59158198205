/**
 * A fleet's snapshot comes in hash order: its bans inserted as they come
 * touch every page of the store's prefix index in each transaction (a
 * million took 18 s, in prefix order 4 s). Pages sorted one by one (as the
 * snapshot reader sends them), then merged, go in in prefix order: each
 * transaction touches a few neighbouring index pages.
 */

/**
 * A page of items in key order, read by position: a window of them holds its
 * items in the page's own form (columns) until the merge reaches each, not a
 * quarter of a million objects long enough for the collector to move them.
 */
export interface SortedPage<T> {
  readonly length: number;
  key(i: number): string;
  item(i: number): T;
}

/**
 * The items of sorted pages in key order, `size` at a time: a heap of the
 * pages' heads, so a window of pages is merged in O(n log pages).
 */
export function* mergePages<T>(pages: readonly SortedPage<T>[], size: number): Generator<T[]> {
  // Heap of [page, position], ordered by the key at that position.
  const heap: [number, number][] = [];
  const keyAt = (h: [number, number]): string => (pages[h[0]] as SortedPage<T>).key(h[1]);
  const less = (a: [number, number], b: [number, number]): boolean => keyAt(a) < keyAt(b);
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
    if (p.length) heap.push([i, 0]);
  });
  for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) down(i);
  let out: T[] = [];
  while (heap.length) {
    const top = heap[0] as [number, number];
    const page = pages[top[0]] as SortedPage<T>;
    out.push(page.item(top[1]));
    if (++top[1] >= page.length) {
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
