// Entries of a feed with no ban in force are banned again after each fetch
// (a 304, a failure): checked again against the allow list and our own
// addresses first, which may have changed since the list was read (a SIGHUP).
import assert from "node:assert/strict";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import { fillGaps, type FeedWork } from "../../src/feeds/apply.js";
import { feedSchema } from "../../src/feeds/config.js";
import { FeedStore } from "../../src/feeds/state.js";
import { NoFirewall } from "../../src/firewall/none.js";
import { Logger } from "../../src/log.js";
import { overlaps, parsePrefix, prefixKey, type Prefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

void test("a gap now allowed, or ours, is not banned again; the others are", async () => {
  const store = new Store(":memory:");
  const log = new Logger(() => undefined);
  const queue = new BanQueue(store, new NoFirewall(), log);
  const feeds = new FeedStore(store);
  const feed = feedSchema.parse({ name: "drop", url: "file:///nonexistent" });
  feeds.addEntries("drop", ["198.51.100.0/24", "203.0.113.0/24", "192.0.2.1/32"].map((k) => prefixKey(parsePrefix(k))));
  const allowed = [parsePrefix("203.0.113.0/25")];
  const within = (list: Prefix[]) => (p: Prefix): boolean => list.some((a) => overlaps(a, p));
  const work: FeedWork = {
    feeds,
    queue,
    log,
    signal: new AbortController().signal,
    rules: () => ({ maxEntries: 100, minPrefixV4: 8, minPrefixV6: 19, ours: within([parsePrefix("192.0.2.1")]), allowed: within(allowed), asBanned: (p) => p }),
  };
  assert.equal(await fillGaps(work, feed), 1);
  assert.deepEqual([...store.iterateActive()].map((r) => r.prefix), ["198.51.100.0/24"]);
  queue.close();
  store.close();
});
