import assert from "node:assert/strict";
import { test } from "node:test";
import { sign, snapshotDetail } from "../../src/cluster/message.js";
import { catchUpFromSnapshot, PEER_IMPORT, sortWindow, SNAPSHOT_PAGE, type PageReader } from "../../src/cluster/snapshot/catch-up.js";
import type { SnapshotEntry } from "../../src/cluster/snapshot/entry.js";
import { checkPage, type CheckedPage } from "../../src/cluster/snapshot/page.js";
import type { ImportEntry } from "../../src/store/store.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const field = (k: number): string => `198.51.100.${k}/32`;
const detail = (k: number): string =>
  snapshotDetail("test", sign(secret, "test", { origin: "a", kind: "ban", prefix: field(k), expires: "", reason: "trap", port: "", at: "1700000000000", seq: "1700000000000000" }));

/** Pages of three entries each, 0-89 spread over them out of order. */
function pages(): CheckedPage[] {
  const out: CheckedPage[] = [];
  for (let p = 0; p < 30; p++) out.push(checkPage(secret, "test", [p + 60, p, p + 30].flatMap((k) => [field(k), detail(k)])));
  return out;
}

function readerOf(list: CheckedPage[]): PageReader & { closed: boolean } {
  return {
    closed: false,
    next() {
      return Promise.resolve(this.closed ? undefined : list.shift());
    },
    close() {
      this.closed = true;
      return Promise.resolve();
    },
  };
}

const ban = (e: SnapshotEntry): ImportEntry[] => (e.ok ? [{ prefix: e.message.prefix, reason: e.message.reason }] : []);

void test("a window of pages (at most 25) is merged into field order, each entry judged once, then imported; the last import waited for", async () => {
  const reader = readerOf(pages());
  const judged: string[][] = [];
  const imports: number[] = [];
  const r = await catchUpFromSnapshot(reader, {
    bansOf: (batch) => {
      judged.push(batch.map((e) => e.field));
      return batch.flatMap(ban);
    },
    importer: {
      importBans: (entries, opts) => {
        assert.equal(opts, PEER_IMPORT);
        imports.push(entries.length);
        return Promise.resolve(entries.length === 0 ? 0 : entries.length - 1);
      },
    },
    stopped: () => false,
  });
  // 25 pages of three are a window, then the 5 left; a batch is a window here (under SNAPSHOT_PAGE).
  const all = Array.from({ length: 90 }, (_, k) => k);
  const inWindow = (lo: number, hi: number): string[] => all.filter((k) => k % 30 >= lo && k % 30 < hi).map(field).sort();
  assert.deepEqual(judged, [inWindow(0, 25), inWindow(25, 30)]);
  assert.deepEqual(imports, [75, 15, 0], "the empty import last: it resolves once every ban is in the firewall");
  assert.deepEqual(r, { seen: 90, applied: 88 });
  assert.ok(reader.closed);
});

void test("a catch-up stopped imports no more and closes the reader", async () => {
  const reader = readerOf(pages());
  let stopped = false;
  const imports: number[] = [];
  const r = await catchUpFromSnapshot(reader, {
    bansOf: (batch) => batch.flatMap(ban),
    importer: {
      importBans: (entries) => {
        imports.push(entries.length);
        stopped = true;
        return Promise.resolve(entries.length);
      },
    },
    stopped: () => stopped,
  });
  assert.deepEqual(imports, [75, 0]);
  assert.equal(r.seen, 75);
  assert.ok(reader.closed);
});

void test("the sort window starts at a page and grows with what was imported, up to its bound", () => {
  assert.equal(sortWindow(0), SNAPSHOT_PAGE);
  assert.equal(sortWindow(3 * SNAPSHOT_PAGE), 3 * SNAPSHOT_PAGE);
  assert.equal(sortWindow(10_000_000), 250_000);
});
