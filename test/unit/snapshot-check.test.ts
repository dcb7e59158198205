import assert from "node:assert/strict";
import { test } from "node:test";
import { sign } from "../../src/cluster/message.js";
import { checkPage, snapshotPages, type HashScanner } from "../../src/cluster/snapshot-check.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const detail = (prefix: string): string =>
  JSON.stringify(sign(secret, "test", { origin: "a", kind: "ban", prefix, expires: "", reason: "trap", port: "23", at: "1700000000000" }));

void test("a checked page comes in field order, each result beside its own field", () => {
  const flat = ["198.51.100.9/32", detail("198.51.100.9/32"), "192.0.2.1/32", "{not json", "203.0.113.5/32", detail("203.0.113.5/32"), "192.0.2.7/32", detail("192.0.2.7/32")];
  const page = checkPage(secret, "test", flat);
  assert.deepEqual(page.fields, ["192.0.2.1/32", "192.0.2.7/32", "198.51.100.9/32", "203.0.113.5/32"]);
  assert.match(page.results[0] as string, /^not JSON/);
  const prefixes = page.results.slice(1).map((r) => (typeof r === "string" ? r : `${r.prefix.address}/${r.prefix.length}`));
  assert.deepEqual(prefixes, ["192.0.2.7/32", "198.51.100.9/32", "203.0.113.5/32"]);
});

void test("the snapshot is read along HSCAN's cursors until it names 0, empty pages skipped", async () => {
  const replies: Record<string, [string, string[]]> = {
    "0": ["17", ["192.0.2.1/32", detail("192.0.2.1/32")]],
    "17": ["42", []],
    "42": ["0", ["192.0.2.2/32", detail("192.0.2.2/32")]],
  };
  const asked: string[] = [];
  const redis: HashScanner = {
    hscan: (key, cursor, _count, n) => {
      asked.push(`${key} ${cursor} ${n}`);
      return Promise.resolve(replies[cursor] as [string, string[]]);
    },
  };
  const pages = [];
  for await (const p of snapshotPages(redis, "snap", 5, secret, "test")) pages.push(p.fields);
  assert.deepEqual(pages, [["192.0.2.1/32"], ["192.0.2.2/32"]]);
  assert.deepEqual(asked, ["snap 0 5", "snap 17 5", "snap 42 5"]);
});
