import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { feedInterval } from "../../src/feeds/config.js";

function refused(feed: unknown, ...needles: string[]): void {
  assert.throws(
    () => validateConfig({ feed }, "test.toml"),
    (e: unknown) => {
      assert.ok(e instanceof IblockError, String(e));
      assert.equal(e.exitCode, EX_CONFIG);
      for (const n of needles) assert.ok(e.message.includes(n), `${JSON.stringify(e.message)} lacks ${JSON.stringify(n)}`);
      return true;
    },
  );
}

test("[[feed]]: defaults", () => {
  const c = validateConfig({ feed: [{ name: "drop", url: "https://example.org/drop.txt" }] }, "test.toml");
  assert.deepEqual(c.feed, [
    { name: "drop", kind: "list", url: "https://example.org/drop.txt", max_entries: 100_000, min_prefix_v4: 16, min_prefix_v6: 32, shrink_hold: 24 * 3_600_000, timeout: 30_000, max_bytes: 32 * 1024 * 1024 },
  ]);
  assert.equal(feedInterval(c.feed[0]!), 6 * 3_600_000);
  assert.deepEqual(validateConfig({}, "t").feed, []);
  const f = validateConfig({ feed: [{ name: "x", url: "file:///etc/iblock/extra.txt", max_bytes: "512KB", interval: "15m" }] }, "t").feed[0];
  assert.equal(f?.max_bytes, 512 * 1024);
  assert.equal(f?.interval, 900_000);
});

test("[[feed]]: bad entries refused, naming the feed, the key, the value and what it takes", () => {
  refused([{ name: "drop", url: "ftp://example.org/x" }], 'feed "drop"', 'key "url"', '"ftp://example.org/x"', "http://, https:// or file:///");
  refused([{ name: "drop", url: "file://server/x.txt" }], 'key "url"');
  refused([{ url: "https://example.org/x" }], "feed #1", 'key "name": is missing');
  refused([{ name: "Bad Name", url: "https://example.org/x" }], 'key "name"', "lower-case");
  refused([{ name: "a", url: "https://e.org/1" }, { name: "a", url: "https://e.org/2" }], "another feed has this name");
  refused([{ name: "a", url: "https://e.org/1", interval: "10s" }], 'key "interval"', "at least 1m");
  refused([{ name: "a", url: "https://e.org/1", min_prefix_v4: 0 }], 'key "min_prefix_v4"', "1-32");
  refused([{ name: "a", url: "https://e.org/1", max_bytes: "2TB" }], 'key "max_bytes"', '"2TB"');
  refused([{ name: "a", url: "https://e.org/1", colour: "red" }], 'unknown key "colour"', "known keys: name, url");
  refused({ name: "a" }, 'key "feed"', "[[feed]]");
});

test("[[feed]] kind crowdsec: a Local API and its bouncer key; polled every 10s unless said", () => {
  const [f] = validateConfig({ feed: [{ name: "cs", kind: "crowdsec", url: "http://127.0.0.1:8080", api_key_file: "/etc/iblock/cs.key" }] }, "t").feed;
  assert.equal(f?.kind, "crowdsec");
  assert.equal(feedInterval(f), 10_000);
  assert.equal(feedInterval({ kind: "crowdsec", interval: 2_000 }), 2_000);
  refused([{ name: "cs", kind: "crowdsec", url: "http://127.0.0.1:8080" }], 'feed "cs"', 'key "api_key_file": is missing', "needs the bouncer key's file");
  refused([{ name: "cs", kind: "crowdsec", url: "file:///etc/x", api_key_file: "/k" }], 'key "url"', "http:// or https://");
  refused([{ name: "cs", url: "https://e.org/1", api_key_file: "/k" }], 'key "api_key_file"', "only a feed of kind crowdsec");
  refused([{ name: "cs", kind: "bouncer", url: "https://e.org/1" }], 'key "kind"', '"crowdsec"');
});
