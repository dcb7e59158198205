// `iblock feeds refresh` (issue 28): a fetch that failed is exit 69
// (EX_UNAVAILABLE), naming the feed and why, after the views; a refresh that
// fetched is exit 0. Against a real HTTP server that fails on purpose.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { test } from "node:test";
import { createInstance, EX } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { benchAddress, FEED_PORT, feedTables, FeedServer } from "../support/feed-server.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

void test("feeds refresh exits 69 naming each feed whose fetch failed, and why; 0 when every fetch worked", { timeout: 120_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  const server = await FeedServer.start(topo, inst.dir);
  await server.write("good.txt", `${benchAddress(1)}\n${benchAddress(2)}\n`);
  await server.write("err.txt", `${benchAddress(3)}\n`);
  await inst.writeConfig({ trap_ports: [23] });
  await appendFile(
    inst.configPath,
    feedTables([
      { name: "good", url: server.url("good.txt"), interval: "1h" },
      { name: "err", url: server.url("err.txt"), interval: "1h" },
      // Nothing listens on this port: the connection is refused.
      { name: "gone", url: `http://${ADDR.otherV4}:${FEED_PORT + 1}/gone.txt`, interval: "1h" },
    ]),
  );
  const d = await inst.start();
  // The fetches at start are over (each one ends with a status) before the failures are set.
  await waitUntil(async () => {
    const r = await inst.cli("feeds", ["--json"]);
    const views = (JSON.parse(r.stdout) as { feeds: { status: string }[] }).feeds;
    return views.every((v) => v.status !== "not fetched yet") ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200, what: "each feed fetched once" });
  await server.fail("err.txt", 500);

  const all = await inst.cli("feeds", ["refresh"], 60_000);
  assert.equal(all.code, EX.UNAVAILABLE, all.stdout + all.stderr);
  assert.match(all.stderr, /feed err: fetch failed: HTTP 500[^;]*; its 1 ban\(s\) kept/);
  assert.match(all.stderr, /feed gone: fetch failed: [^;]*ECONNREFUSED/);
  assert.doesNotMatch(all.stderr, /feed good/);
  // The views are printed all the same.
  assert.match(all.stdout, /good/);

  const json = await inst.cli("feeds", ["refresh", "err", "--json"], 60_000);
  assert.equal(json.code, EX.UNAVAILABLE, json.stdout + json.stderr);
  const answer = JSON.parse(json.stdout) as { feeds: unknown[]; failed: { name: string; status: string }[] };
  assert.deepEqual(answer.failed.map((f) => f.name), ["err"]);
  assert.match(answer.failed[0]?.status ?? "", /^fetch failed: HTTP 500/);

  const good = await inst.cli("feeds", ["refresh", "good"], 60_000);
  assert.equal(good.code, EX.OK, good.stdout + good.stderr);
  await server.fail("err.txt", "");
  const back = await inst.cli("feeds", ["refresh", "err"], 60_000);
  assert.equal(back.code, EX.OK, back.stdout + back.stderr);
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});
