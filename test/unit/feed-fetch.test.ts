import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { fetchFeed, type FetchOptions } from "../../src/feeds/fetch.js";
import { FeedStore } from "../../src/feeds/state.js";
import { parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

function options(over: Partial<FetchOptions> = {}): FetchOptions & { chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return { timeoutMs: 2_000, maxBytes: 1024, previous: { etag: null, lastModified: null }, onChunk: (c) => chunks.push(c), chunks, ...over };
}

test("file:// feeds: read, unchanged while size and mtime are, refused over max_bytes", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "iblock-feed-")), "list.txt");
  writeFileSync(file, "198.18.0.1\n");
  const url = pathToFileURL(file).href;
  const o = options();
  const first = await fetchFeed(url, o);
  assert.equal(first.kind, "body");
  assert.equal(Buffer.concat(o.chunks).toString(), "198.18.0.1\n");
  const previous = first.kind === "body" ? first.validators : { etag: null, lastModified: null };
  assert.deepEqual(await fetchFeed(url, options({ previous })), { kind: "unchanged" });
  writeFileSync(file, "x".repeat(2000));
  await assert.rejects(fetchFeed(url, options({ previous })), /larger than max_bytes/);
});

test("http feeds (loopback): ETag sent back, 304 is unchanged, a server that never answers times out", async (t) => {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers["if-none-match"]);
    if (req.url === "/hang") return;
    if (req.headers["if-none-match"] === '"v1"') {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader("etag", '"v1"');
    res.end("198.18.0.1\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.closeAllConnections());
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const first = await fetchFeed(`${base}/list`, options());
  assert.ok(first.kind === "body" && first.validators.etag === '"v1"');
  assert.deepEqual(await fetchFeed(`${base}/list`, options({ previous: { etag: '"v1"', lastModified: null } })), { kind: "unchanged" });
  assert.deepEqual(seen, [undefined, '"v1"']);
  const started = Date.now();
  await assert.rejects(fetchFeed(`${base}/hang`, options({ timeoutMs: 300 })), /no complete answer in 0.3 s/);
  assert.ok(Date.now() - started < 2_000);
});

test("feed entries: a feed ends only its own bans; another feed listing the prefix takes the ban over", () => {
  const store = new Store(":memory:");
  const feeds = new FeedStore(store);
  const [a, b, trap] = ["198.18.0.1", "198.18.0.2", "198.18.0.3"].map(parsePrefix) as [ReturnType<typeof parsePrefix>, ReturnType<typeof parsePrefix>, ReturnType<typeof parsePrefix>];
  store.importBans([trap], { source: "trap", reason: null, durationMs: 3_600_000 });
  store.importBans([a, b], { source: "feed:one", reason: null, durationMs: Infinity });
  feeds.addEntries("one", ["198.18.0.1/32", "198.18.0.2/32", "198.18.0.3/32"]);
  feeds.addEntries("two", ["198.18.0.2/32"]);
  const ended = feeds.dropEntries("one", ["198.18.0.1/32", "198.18.0.2/32", "198.18.0.3/32"], "dropped by feed one");
  assert.deepEqual(ended, ["198.18.0.1/32"]);
  assert.equal(store.openBan(b)?.source, "feed:two");
  assert.equal(store.openBan(trap)?.source, "trap");
  assert.equal(store.openBan(a), undefined);
  assert.deepEqual([...feeds.keys("one")], []);
  assert.deepEqual(feeds.gaps("two", 10), []);
  store.close();
});
