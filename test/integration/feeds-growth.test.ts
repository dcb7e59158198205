// A feed whose list suddenly grows more than tenfold (taken over, or broken)
// is held back like one that shrinks by half, and accepted the same way; a
// list that grows tenfold exactly is applied. A feed over plain http:// is
// warned of at start and at each SIGHUP.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { test } from "node:test";
import { createInstance, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { benchAddress, feedTables, FeedServer } from "../support/feed-server.js";
import { logMark, reload } from "../support/lifecycle.js";
import { createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

interface View {
  name: string;
  status: string;
  entries: number;
  last_success: string | null;
  held_back: { entries: number } | null;
}

const lines = (count: number): string => Array.from({ length: count }, (_, i) => benchAddress(i)).join("\n") + "\n";

async function view(inst: Instance, args: string[] = []): Promise<View> {
  const r = await inst.cli("feeds", [...args, "--json"], 60_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { feeds: View[] };
  const v = out.feeds.find((f) => f.name === "grow");
  assert.ok(v, r.stdout);
  return v;
}

test("feeds: a list that grows more than tenfold is held back until accepted", { timeout: 120_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  const server = await FeedServer.start(topo, inst.dir);
  await server.write("grow.txt", lines(10));
  await inst.writeConfig({ trap_ports: [23] });
  await appendFile(inst.configPath, feedTables([{ name: "grow", url: server.url("grow.txt"), interval: "1h" }]));

  const d = await inst.start();
  assert.ok(
    d.lines.some((l) => l.includes(`feed grow: ${server.url("grow.txt")} is plain http:// with no signature or checksum`)),
    d.tail(),
  );
  // And again at each SIGHUP.
  const from = logMark(d);
  await reload(d);
  await d.waitForLine(/feed grow: http:\/\/.* is plain http:\/\/ with no signature or checksum/, 5_000, from);
  const first = await waitUntil(async () => {
    const v = await view(inst);
    return v.last_success !== null ? v : undefined;
  }, { timeoutMs: 30_000, intervalMs: 300, what: "the feed fetched once" });
  assert.equal(first.entries, 10, d.tail());

  // Tenfold exactly: applied.
  await server.write("grow.txt", lines(100));
  const tenfold = await view(inst, ["refresh", "grow"]);
  assert.match(tenfold.status, /^ok: 100 entries/, d.tail());
  assert.equal((await inst.list()).length, 100);

  // More than tenfold: held back, nothing of it banned, said once.
  await server.write("grow.txt", lines(1001));
  const grown = await view(inst, ["refresh", "grow"]);
  assert.match(grown.status, /^held back: the list grew more than tenfold, from 100 to 1001 entries; run `iblock feeds accept grow`/);
  assert.equal(grown.held_back?.entries, 1001);
  assert.equal((await inst.list()).length, 100, "nothing of the grown list banned");
  await view(inst, ["refresh", "grow"]);
  assert.equal(d.lines.filter((l) => /feed grow: held back/.test(l)).length, 1, d.tail());

  // Accepted by a person: applied.
  const accepted = await inst.cli("feeds", ["accept", "grow"]);
  assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);
  assert.match(accepted.stdout, /^applied: 1001 entries .* 901 banned, 0 unbanned/);
  assert.equal((await inst.list()).length, 1001);
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});

test("feeds: the same number of entries covering more than tenfold the addresses is held back too", { timeout: 120_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  const server = await FeedServer.start(topo, inst.dir);
  await server.write("grow.txt", lines(10));
  await inst.writeConfig({ trap_ports: [23] });
  await appendFile(inst.configPath, feedTables([{ name: "grow", url: server.url("grow.txt"), interval: "1h" }]));
  const d = await inst.start();
  await waitUntil(async () => ((await view(inst)).last_success !== null ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, what: "the feed fetched once" });
  assert.equal((await inst.list()).length, 10);

  // Ten addresses become ten /24s: as many entries, 256 times the addresses.
  await server.write("grow.txt", Array.from({ length: 10 }, (_, i) => `198.18.${i + 1}.0/24`).join("\n") + "\n");
  const grown = await view(inst, ["refresh", "grow"]);
  assert.match(grown.status, /^held back: the list grew more than tenfold in IPv4 addresses covered, from 10 to 2560; run `iblock feeds accept grow`/, d.tail());
  assert.deepEqual((await inst.list()).map((b) => b.prefix).sort(), Array.from({ length: 10 }, (_, i) => `${benchAddress(i)}/32`).sort(), "the addresses stay banned, no /24 added");
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});
