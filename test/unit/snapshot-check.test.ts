import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { pathToFileURL } from "node:url";
import { sign, snapshotDetail, verifyDetail, type Message } from "../../src/cluster/message.js";
import { checkPage, entryAt } from "../../src/cluster/snapshot/page.js";
import { SnapshotReader } from "../../src/cluster/snapshot/reader.js";
import { snapshotPages, type HashScanner } from "../../src/cluster/snapshot/scan.js";
import { waitUntil } from "../support/proc.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const detail = (prefix: string): string =>
  snapshotDetail("test", sign(secret, "test", { origin: "a", kind: "ban", prefix, expires: "", reason: "trap", port: "23", at: "1700000000000", seq: "1700000000000000" }));

void test("a checked page comes in field order, each result beside its own field", () => {
  const flat = ["198.51.100.9/32", detail("198.51.100.9/32"), "192.0.2.1/32", "{not json", "203.0.113.5/32", detail("203.0.113.5/32"), "192.0.2.7/32", detail("192.0.2.7/32")];
  const page = checkPage(secret, "test", flat);
  assert.deepEqual(page.fields, ["192.0.2.1/32", "192.0.2.7/32", "198.51.100.9/32", "203.0.113.5/32"]);
  const entries = page.fields.map((_, i) => entryAt(page, i));
  assert.deepEqual(entries.map((e) => e.field), page.fields);
  const first = entries[0];
  assert.ok(first && !first.ok && /^not an HMAC and a message/.test(first.why));
  const prefixes = entries.slice(1).map((e) => (e.ok ? `${e.message.prefix.address}/${e.message.prefix.length}` : e.why));
  assert.deepEqual(prefixes, ["192.0.2.7/32", "198.51.100.9/32", "203.0.113.5/32"]);
});

void test("a checked entry crosses in columns and comes out as the message it was, permanent or not, with or without a port", () => {
  const messages: Message[] = [
    { origin: "a", kind: "ban", prefix: "2001:db8:7::/48", expires: "", reason: "trap", port: "", at: "1700000000000", seq: "1700000000000000" },
    { origin: "b.example", kind: "unban", prefix: "198.51.100.0/24", expires: "1800000000000", reason: "cli: by hand", port: "65535", at: "1700000000001", seq: "1700000000001000" },
  ];
  const flat = messages.flatMap((m) => [m.prefix, snapshotDetail("test", sign(secret, "test", m))]);
  const page = checkPage(secret, "test", flat);
  assert.deepEqual(new Set(page.words).size, page.words.length, "each word once a page");
  for (const [i, m] of messages.entries()) {
    const checked = verifyDetail(secret, "test", flat[i * 2 + 1] as string);
    assert.ok(checked.ok);
    assert.deepEqual(entryAt(page, page.fields.indexOf(m.prefix)), { field: m.prefix, ...checked });
  }
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

// The daemon's other handles keep its event loop alive while the (unref'd) worker starts or fails.
function keepAlive(t: TestContext): void {
  const timer = setInterval(() => undefined, 1_000);
  t.after(() => clearInterval(timer));
}

void test("a reader whose worker cannot load reads and checks the snapshot on this thread", async (t) => {
  keepAlive(t);
  const redis: HashScanner = {
    hscan: (_key, cursor) => Promise.resolve(cursor === "0" ? ["5", ["192.0.2.9/32", detail("192.0.2.9/32")]] : ["0", ["192.0.2.3/32", detail("192.0.2.3/32")]]),
  };
  const data = { redis: { url: "redis://127.0.0.1:1" }, key: "snap", count: 10, secret: new Uint8Array(secret), fleet: "test" };
  const reader = new SnapshotReader(data, 2, redis, new URL("./no-such-worker.cjs", import.meta.url));
  const pages: string[][] = [];
  for (let p = await reader.next(); p; p = await reader.next()) pages.push(p.fields);
  await reader.close();
  assert.deepEqual(pages, [["192.0.2.9/32"], ["192.0.2.3/32"]]);
});

void test("a reader closed while a page is awaited gives none, from its worker or from this thread", async (t) => {
  keepAlive(t);
  const dir = mkdtempSync(join(tmpdir(), "iblock-reader-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A worker that loads, says so in a file (a message would be an answer), and never answers.
  const silent = join(dir, "silent.cjs");
  const loaded = join(dir, "loaded");
  writeFileSync(silent, `require("node:fs").writeFileSync(${JSON.stringify(loaded)}, ""); setInterval(() => {}, 1000);\n`);
  let asked = false;
  const never: HashScanner = {
    hscan: () => {
      asked = true;
      return new Promise(() => undefined);
    },
  };
  const data = { redis: { url: "redis://127.0.0.1:9" }, key: "snap", count: 10, secret: new Uint8Array(secret), fleet: "test" };
  // Closed once each reading is under way, whatever this machine's speed: the worker
  // loaded, or (no worker file) the reading fallen back to this thread.
  const cases: [URL, () => boolean][] = [
    [pathToFileURL(silent), () => existsSync(loaded)],
    [new URL("./no-such-worker.cjs", import.meta.url), () => asked],
  ];
  for (const [file, reading] of cases) {
    const reader = new SnapshotReader(data, 2, never, file);
    const waiting = reader.next();
    await waitUntil(reading, { timeoutMs: 30_000, intervalMs: 10, what: `the reading under way (${file.pathname})` });
    await reader.close();
    assert.equal(await waiting, undefined);
  }
});
