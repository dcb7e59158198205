// One iblock reads another's published list as a feed. The publisher (its own
// namespace, state dir and nftables) bans scanners that hit its trap and a few
// networks by hand, and serves /blocklist.json and /blocklist.txt in plain
// HTTP on a non-loopback address; the subscriber (the host namespace) reads
// first the JSON form, then (after a SIGHUP) the text form, and real packets
// from those scanners get no answer there. What the subscriber must not ban
// (its own address, a network it allows) is refused and counted, and its
// /metrics shows each feed's entries, refusals, last success and failures.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { test } from "node:test";
import { assertDropped, assertServed, waitListed } from "../support/checks.js";
import { createInstance, type IblockConfig, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { benchAddress, feedTables } from "../support/feed-server.js";
import { Bridge } from "../support/http-bridge.js";
import { logMark, reload } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";
import { parseMetrics } from "../support/prometheus.js";
import { addPublisher, PUB_ADDR } from "../support/publisher.js";

const PUBLISHED = `http://${PUB_ADDR.publisher}:9107`;
/** Scanners that hit the publisher's trap. */
const SCANNERS = [benchAddress(1), benchAddress(2), benchAddress(3)];
/** Banned by hand on the publisher: a network, an IPv6 /64 (the scanner's), the subscriber's own address, a network the subscriber allows. */
const NETWORK = "198.19.0.0/24";
const ALLOWED_THERE = "198.19.255.0/24";
const BY_HAND = [NETWORK, "2001:db8:0:1::/64", ADDR.hostV4, "198.19.255.7"];
/** What the subscriber takes from the publisher's list. */
const USABLE = [...SCANNERS.map((s) => `${s}/32`), NETWORK, "2001:db8:0:1::/64"].sort();

interface View {
  name: string;
  status: string;
  entries: number;
  refused: Record<string, number>;
}

async function views(inst: Instance, args: string[] = []): Promise<Record<string, View>> {
  const r = await inst.cli("feeds", [...args, "--json"], 60_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return Object.fromEntries((JSON.parse(r.stdout) as { feeds: View[] }).feeds.map((v) => [v.name, v]));
}

/** The bans in force on `inst` whose source is `source`, sorted. */
async function bansFrom(inst: Instance, source: string): Promise<string[]> {
  return (await inst.list())
    .filter((b) => b.source === source)
    .map((b) => b.prefix)
    .sort();
}

void test("feeds: another iblock's published list, as JSON and as text, drops its scanners here; feed metrics", { timeout: 180_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const pubNs = await addPublisher(t, topo);

  // The publisher: a trap on 23, its list in plain HTTP beyond loopback.
  const pub = await createInstance(t, pubNs, { trap_ports: [23], http: { enabled: true, listen: `${PUB_ADDR.publisher}:9107`, allow_insecure_remote: true } } as unknown as IblockConfig);
  const dp = await pub.start();
  await dp.waitForLine(/http: serving .* on http:\/\/203\.0\.113\.2:9107\//, 10_000);

  // Before anything is published, the subscriber's host serves them all.
  for (const s of [...SCANNERS, benchAddress(65_536 + 5), ADDR.scannerV6]) await assertServed(topo, s, undefined, "nothing banned yet");
  for (const s of SCANNERS) {
    const r = await topo.probe({ src: s, dst: PUB_ADDR.publisherToScanner, port: 23, timeoutMs: 1000 });
    assert.ok(r === "connected" || r === "reset", `${s} completes a handshake with the publisher's trap, got "${r}"\n${dp.tail()}`);
    await waitListed(pub, `${s}/32`);
  }
  for (const a of BY_HAND) {
    const r = await pub.cli("ban", [a]);
    assert.equal(r.code, 0, `publisher: iblock ban ${a}: ${r.stderr}`);
  }
  assert.equal((await pub.list()).length, SCANNERS.length + BY_HAND.length);

  // The subscriber: the JSON form, and a feed the publisher does not serve.
  const sub = await createInstance(t, topo.host);
  const configure = async (feeds: Record<string, string>[]): Promise<void> => {
    await sub.writeConfig({ trap_ports: [23], allow: [ALLOWED_THERE], http: { enabled: true } } as unknown as IblockConfig);
    await appendFile(sub.configPath, feedTables(feeds.map((f) => ({ interval: "1h", ...f }))));
  };
  await configure([
    { name: "peer-json", url: `${PUBLISHED}/blocklist.json` },
    { name: "gone", url: `${PUBLISHED}/nothing.txt` },
  ]);
  const ds = await sub.start();
  await ds.waitForLine(/feed peer-json: 5 entries from 7 line\(s\) .*refused: .*; 5 banned, 0 unbanned/, 20_000);
  await ds.waitForLine(/feed gone: fetch failed: .*404/, 20_000);

  // Real packets: the publisher's scanners, its network and the IPv6 /64 get no answer here.
  for (const s of [...SCANNERS, benchAddress(65_536 + 5), ADDR.scannerV6, ADDR.scannerV6Sibling]) await assertDropped(topo, s, ds, "banned on the publisher");
  await assertServed(topo, benchAddress(10), ds, "never banned anywhere");
  await assertServed(topo, "198.19.255.7", ds, "banned on the publisher, allowed here");
  assert.deepEqual(await bansFrom(sub, "feed:peer-json"), USABLE);
  const v1 = await views(sub);
  assert.equal(v1["peer-json"]?.entries, 5, JSON.stringify(v1));
  assert.equal(v1["peer-json"]?.refused.ours, 1, "its own address refused");
  assert.equal(v1["peer-json"]?.refused.allowed, 1, "the allowed network refused");
  assert.equal(v1["peer-json"]?.refused.malformed, 0, "every line of the publisher's JSON understood");

  // /metrics: entries, refusals by reason, last success, fetches and failures per feed.
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const scrape = async (): Promise<ReturnType<typeof parseMetrics>> => {
    const r = await http.request("/metrics");
    assert.equal(r.status, 200, r.text);
    return parseMetrics(r.text);
  };
  const m1 = await scrape();
  const json = { feed: "peer-json" };
  assert.equal(m1.value("iblock_feed_entries", json), 5);
  assert.equal(m1.value("iblock_feed_refused_lines", { ...json, reason: "ours" }), 1);
  assert.equal(m1.value("iblock_feed_refused_lines", { ...json, reason: "allowed" }), 1);
  assert.equal(m1.value("iblock_feed_refused_lines", { ...json, reason: "too_wide" }), 0);
  const success = m1.value("iblock_feed_last_success_timestamp_seconds", json) ?? 0;
  assert.ok(Math.abs(Date.now() / 1000 - success) < 60, `last success is now: ${success}`);
  assert.equal(m1.value("iblock_feed_fetches_total", json), 1);
  assert.equal(m1.value("iblock_feed_fetch_failures_total", json), 0);
  assert.equal(m1.value("iblock_feed_fetch_failures_total", { feed: "gone" }), 1);
  assert.equal(m1.value("iblock_feed_last_success_timestamp_seconds", { feed: "gone" }), 0, "never succeeded");
  assert.equal(m1.value("iblock_feed_entries", { feed: "gone" }), 0);
  assert.equal(m1.value("iblock_feed_held_back", json), 0);
  assert.equal(m1.value("iblock_bans_active", { family: "ipv4", source: "feed" }), 4, "the feed's bans in force, by family");
  assert.equal(m1.value("iblock_bans_active", { family: "ipv6", source: "feed" }), 1);

  // SIGHUP: the text form instead. The JSON feed's bans end, the text feed's take their place.
  await configure([{ name: "peer-txt", url: `${PUBLISHED}/blocklist.txt` }]);
  const mark = logMark(ds);
  assert.match(await reload(ds), /config reloaded/);
  await ds.waitForLine(/feed peer-json is no longer in the config: 5 of its ban\(s\) ended/, 10_000, mark);
  await ds.waitForLine(/feed peer-txt: 5 entries from 7 line\(s\) .*; 5 banned, 0 unbanned/, 20_000, mark);
  for (const s of [...SCANNERS, benchAddress(65_536 + 5), ADDR.scannerV6]) await assertDropped(topo, s, ds, "in the publisher's text list");
  await assertServed(topo, "198.19.255.7", ds, "allowed here");
  assert.deepEqual(await bansFrom(sub, "feed:peer-txt"), USABLE);
  assert.deepEqual(await bansFrom(sub, "feed:peer-json"), []);
  const v2 = await views(sub);
  assert.deepEqual(Object.keys(v2), ["peer-txt"]);
  assert.equal(v2["peer-txt"]?.refused.ours, 1);
  assert.equal(v2["peer-txt"]?.refused.allowed, 1);
  const m2 = await scrape();
  assert.equal(m2.value("iblock_feed_entries", { feed: "peer-txt" }), 5);
  assert.equal(m2.value("iblock_feed_refused_lines", { feed: "peer-txt", reason: "ours" }), 1);
  assert.equal(m2.value("iblock_feed_entries", json), undefined, "a feed gone from the config is gone from the metrics");

  // Unchanged on the publisher: its ETag answers 304, nothing changes here.
  assert.match((await views(sub, ["refresh", "peer-txt"]))["peer-txt"]?.status ?? "", /unchanged/);
  // The publisher lifts one scanner's ban: the next fetch here lifts it too, and only it.
  const lifted = SCANNERS[2] ?? "";
  assert.equal((await pub.cli("unban", [lifted])).code, 0);
  await waitUntil(async () => !(await pub.list()).some((b) => b.prefix === `${lifted}/32`), { timeoutMs: 15_000, what: "the publisher to lift its ban" });
  assert.match((await views(sub, ["refresh", "peer-txt"]))["peer-txt"]?.status ?? "", /4 entries .*; 0 banned, 1 unbanned/);
  await assertServed(topo, lifted, ds, "unbanned on the publisher");
  for (const s of SCANNERS.slice(0, 2)) await assertDropped(topo, s, ds, "still banned on the publisher");
  const m3 = await scrape();
  assert.equal(m3.value("iblock_feed_entries", { feed: "peer-txt" }), 4);
  assert.equal(m3.value("iblock_feed_fetches_total", { feed: "peer-txt" }), 3);

  assert.deepEqual(await ds.stop(), { code: 0, signal: null }, ds.tail());
  assert.deepEqual(await dp.stop(), { code: 0, signal: null }, dp.tail());
});
