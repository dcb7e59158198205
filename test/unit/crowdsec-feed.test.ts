// The crowdsec feed against a stand-in Local API (CrowdSec itself is in
// test/integration/crowdsec.test.ts): the first read is the whole list, then
// deltas; a reply that is not the stream's (HTML, an error, too large) changes
// nothing; max_entries bounds what a flood of decisions can ban.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import type { FeedWork } from "../../src/feeds/apply.js";
import { feedSchema } from "../../src/feeds/config.js";
import { CrowdsecStream } from "../../src/feeds/crowdsec.js";
import { FeedStore } from "../../src/feeds/state.js";
import { NoFirewall } from "../../src/firewall/none.js";
import { Logger } from "../../src/log.js";
import { overlaps, parsePrefix, type Prefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

const decision = (value: string, duration = "3h59m59.5s", extra: Record<string, string> = {}): Record<string, string> => ({
  duration,
  origin: "cscli",
  scenario: "crowdsecurity/ssh-bf",
  scope: value.includes("/") ? "Range" : "Ip",
  type: "ban",
  value,
  ...extra,
});

void test("crowdsec feed: whole list, deltas, hostile replies changing nothing, max_entries", async (t) => {
  const replies: { status?: number; body: string }[] = [];
  const seen: { url: string; key: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", key: req.headers["x-api-key"] as string | undefined });
    const r = replies.shift() ?? { body: '{"new":null,"deleted":null}' };
    res.statusCode = r.status ?? 200;
    res.end(r.body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const dir = await mkdtemp(join(tmpdir(), "iblock-cs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, "key");
  writeFileSync(keyFile, "s3cret-key\n", { mode: 0o600 });

  const store = new Store(":memory:");
  const log = new Logger(() => undefined);
  const queue = new BanQueue(store, new NoFirewall(), log);
  t.after(() => {
    queue.close();
    store.close();
  });
  const within = (list: Prefix[]) => (p: Prefix): boolean => list.some((a) => overlaps(a, p));
  const work: FeedWork = {
    feeds: new FeedStore(store),
    queue,
    log,
    signal: new AbortController().signal,
    rules: () => ({ maxEntries: 100, minPrefixV4: 16, minPrefixV6: 32, ours: within([parsePrefix("192.0.2.1")]), allowed: () => false, asBanned: (p) => p }),
  };
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const feed = feedSchema.parse({ name: "cs", kind: "crowdsec", url, api_key_file: keyFile, max_entries: 100, max_bytes: "64KB" });
  const stream = new CrowdsecStream(log);
  const active = (): string[] => [...store.iterateActive()].map((r) => r.prefix).sort();

  // The whole list: an Ip, a Range, this host's own address (refused), a captcha (ignored).
  replies.push({ body: JSON.stringify({ new: [decision("198.51.100.7"), decision("203.0.113.0/24", "1h"), decision("192.0.2.1"), decision("198.51.100.8", "1h", { type: "captcha" })], deleted: null }) });
  const first = await stream.refresh(work, feed);
  assert.equal(first.result, "applied", first.status);
  assert.deepEqual(seen[0], { url: "/v1/decisions/stream?startup=true", key: "s3cret-key" });
  assert.deepEqual(active(), ["198.51.100.7/32", "203.0.113.0/24"]);
  const left = (store.openBan(parsePrefix("198.51.100.7"))?.expires_at ?? 0) - Date.now();
  assert.ok(left > 4 * 3_600_000 - 5_000 && left <= 4 * 3_600_000, `its own time: ${left}`);
  assert.match(first.status, /refused: 1 ours; ignored: 0 of another scope, 1 not a ban, 0 malformed/);

  // Replies that are not the stream's: nothing changes, the read fails with why.
  for (const [reply, why] of [
    [{ body: "<html>proxy error</html>" }, /not JSON/],
    [{ body: '{"new": "everything"}' }, /"new" is not a list/],
    [{ status: 500, body: "{}" }, /HTTP 500/],
    [{ body: JSON.stringify({ new: Array.from({ length: 1000 }, (_, i) => decision(`198.18.${i >> 8}.${i & 255}`)), deleted: null }) }, /larger than max_bytes/],
  ] as const) {
    replies.push(reply);
    const r = await stream.refresh(work, feed);
    assert.equal(r.result, "failed");
    assert.match(r.status, why);
    assert.match(r.status, /its 2 ban\(s\) kept/);
    assert.deepEqual(active(), ["198.51.100.7/32", "203.0.113.0/24"]);
  }
  assert.ok(seen.slice(1).every((s) => s.url === "/v1/decisions/stream?startup=false"), "deltas after the first whole read");

  // A delta: one deleted, a flood of new ones, of which max_entries minus what is held are banned.
  const flood = Array.from({ length: 300 }, (_, i) => decision(`198.18.${i >> 8}.${i & 255}`, "1h", { scenario: "\u001b[31mred" }));
  replies.push({ body: JSON.stringify({ new: flood, deleted: [decision("198.51.100.7", "-1.5ms")] }) });
  const delta = await stream.refresh(work, feed);
  assert.equal(delta.removed, 1);
  assert.equal(delta.added, 99);
  assert.match(delta.status, /over limit/);
  assert.equal(active().length, 100);
  assert.ok(!active().includes("198.51.100.7/32"));
  assert.equal(store.openBan(parsePrefix("198.18.0.0"))?.reason, "crowdsec: ?[31mred", "no control character from the network in a reason");
});

void test("crowdsec feed: 10,000 decisions of a first read applied (figure, not a bet on speed)", async (t) => {
  const body = JSON.stringify({ new: Array.from({ length: 10_000 }, (_, i) => decision(`198.18.${i >> 8}.${i & 255}`)), deleted: null });
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const dir = await mkdtemp(join(tmpdir(), "iblock-cs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "key"), "k\n", { mode: 0o600 });
  const store = new Store(":memory:");
  const log = new Logger(() => undefined);
  const queue = new BanQueue(store, new NoFirewall(), log);
  t.after(() => {
    queue.close();
    store.close();
  });
  const work: FeedWork = {
    feeds: new FeedStore(store),
    queue,
    log,
    signal: new AbortController().signal,
    rules: () => ({ maxEntries: 100_000, minPrefixV4: 16, minPrefixV6: 32, ours: () => false, allowed: () => false, asBanned: (p) => p }),
  };
  const feed = feedSchema.parse({ name: "cs", kind: "crowdsec", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, api_key_file: join(dir, "key") });
  const started = performance.now();
  const r = await new CrowdsecStream(log).refresh(work, feed);
  t.diagnostic(`10,000 decisions (${(body.length / 1024).toFixed(0)} KB) read and banned in ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(r.added, 10_000);
  assert.equal(store.countActive(), 10_000);
});
