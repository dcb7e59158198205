// A published list of 100,000 addresses, served over HTTP from another
// namespace, lands in the kernel within seconds and drops those sources; the
// same list again (ETag unchanged) changes nothing; ten changed lines cost
// exactly those ten bans; a trap ban of an address the feed drops is kept.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { assertDropped, assertServed, assertTrapHit, waitDropped } from "../support/checks.js";
import { createInstance, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { benchAddress, FeedServer } from "../support/feed-server.js";
import { createTopology } from "../support/netns.js";
import { bannedElements, countV4Within } from "../support/nft.js";

const SIZE = 100_000;

const listOf = (ns: readonly number[]): string => `# a friendly host's published list\n${ns.map((n) => `${benchAddress(n)} ; seen scanning`).join("\n")}\n`;

/** The store's counts, read beside the daemon (WAL lets a reader in). */
function storeCounts(inst: Instance): { bans: number; open: number; events: number; feedOpen: number } {
  const db = new Database(join(inst.stateDir, "iblock.sqlite"), { readonly: true });
  try {
    const one = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    return {
      bans: one("SELECT count(*) AS n FROM bans"),
      open: one("SELECT count(*) AS n FROM bans WHERE ended_at IS NULL"),
      events: one("SELECT count(*) AS n FROM events"),
      feedOpen: one("SELECT count(*) AS n FROM bans WHERE ended_at IS NULL AND source = 'feed:big'"),
    };
  } finally {
    db.close();
  }
}

async function refresh(inst: Instance, name: string): Promise<string> {
  const r = await inst.cli("feeds", ["refresh", name, "--json"], 60_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { feeds: { name: string; status: string }[] };
  return out.feeds.find((f) => f.name === name)?.status ?? "";
}

test("feeds: 100,000 addresses over HTTP dropped within seconds; unchanged ETag costs nothing; ten lines cost ten bans", { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const inst = await createInstance(t, topo.host, { trap_ports: [23] });
  const server = await FeedServer.start(topo, inst.dir);
  await server.write("big.txt", listOf(Array.from({ length: SIZE }, (_, i) => i)));
  await inst.writeConfig({ trap_ports: [23] });
  // smol-toml's stringify has no array of tables from our ConfigValue type: append it.
  const { appendFile } = await import("node:fs/promises");
  await appendFile(inst.configPath, `\n[[feed]]\nname = "big"\nurl = "${server.url("big.txt")}"\ninterval = "1h"\n`);

  const d = await inst.start();
  const loaded = await d.waitForLine(/feed big: 100000 entries .* 100000 banned, 0 unbanned in [\d.]+ s/, 60_000);
  const seconds = Number(/in ([\d.]+) s/.exec(loaded)?.[1]);
  t.diagnostic(`100,000-entry feed fetched, parsed and in the firewall in ${seconds} s`);
  assert.ok(seconds < 20, `a 100,000-entry feed lands within seconds, took ${seconds} s\n${d.tail()}`);

  // Real packets from feed addresses get no answer; one outside the feed does.
  for (const n of [1, 777, 65_536, SIZE - 1]) await assertDropped(topo, benchAddress(n), d, "listed in the feed");
  await assertServed(topo, benchAddress(SIZE + 100), d, "not in the feed");
  const inKernel = countV4Within(await bannedElements(topo.host), "198.18.0.0/15");
  assert.equal(inKernel, SIZE, "every feed address is an element of the ban sets");

  // The same list again: a 304, no store write, no firewall change.
  const before = storeCounts(inst);
  assert.equal(before.feedOpen, SIZE);
  assert.match(await refresh(inst, "big"), /unchanged/);
  assert.equal(server.count("big.txt", "304"), 1, server.proc.tail(5));
  assert.deepEqual(storeCounts(inst), before, "an unchanged feed changes nothing in the store");

  // A scanner outside the feed is banned by the trap; the feed then lists it too.
  const scanner = benchAddress(SIZE + 9);
  await assertTrapHit(topo, scanner, 23, d);
  await waitDropped(topo, scanner, d);

  // Ten lines change: five gone, four new, and the trap-banned scanner.
  const next = [...Array.from({ length: SIZE - 5 }, (_, i) => i + 5), SIZE + 1, SIZE + 2, SIZE + 3, SIZE + 4, SIZE + 9];
  await server.write("big.txt", listOf(next));
  const status = await refresh(inst, "big");
  assert.match(status, /100000 entries .* 4 banned, 5 unbanned/, status);
  const after = storeCounts(inst);
  assert.equal(after.bans, before.bans + 1 + 4, "four new feed bans beside the trap's one");
  assert.equal(after.open, before.open + 1 + 4 - 5);
  for (const n of [0, 4]) await assertServed(topo, benchAddress(n), d, "dropped from the feed");
  for (const n of [5, SIZE + 1, SIZE + 4]) await assertDropped(topo, benchAddress(n), d, "still or newly in the feed");

  // The feed drops the scanner: the trap's ban is the trap's, and stays.
  await server.write("big.txt", listOf(next.filter((n) => n !== SIZE + 9)));
  assert.match(await refresh(inst, "big"), / 0 banned, 0 unbanned/);
  await assertDropped(topo, scanner, d, "the trap banned it, whatever the feed says");
  const listed = (await inst.list()).find((e) => e.prefix === `${scanner}/32`);
  assert.ok(listed && !listed.source.startsWith("feed:"), JSON.stringify(listed));

  const shown = await inst.cli("feeds");
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^big {2}http:\/\/.*every 1h\n {2}status: ok: 99999 entries .*\n {2}entries: 99999; refused: none\n {2}last fetch: \S+; last success: \S+; next fetch: \S+/m);
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});
