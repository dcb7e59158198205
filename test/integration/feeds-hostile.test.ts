// Hostile and broken feeds: what must never be banned is refused and counted,
// a 10 MB line, binary garbage and 2,000,000 lines cost only counts, a server
// that never answers, a 500, an empty body and a list that shrank by 90 %
// unban nothing; all the while the trap goes on banning scanners.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped } from "../support/checks.js";
import { createInstance, EX, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { benchAddress, feedTables, FeedServer } from "../support/feed-server.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep, waitUntil } from "../support/proc.js";

interface View {
  name: string;
  status: string;
  entries: number;
  last_success: string | null;
  refused: Record<string, number>;
  held_back: { entries: number } | null;
}

const lines = (from: number, count: number): string => Array.from({ length: count }, (_, i) => benchAddress(from + i)).join("\n") + "\n";

async function views(inst: Instance, args: string[] = [], code: number = EX.OK): Promise<Record<string, View>> {
  const r = await inst.cli("feeds", [...args, "--json"], 60_000);
  assert.equal(r.code, code, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { feeds: View[] };
  return Object.fromEntries(out.feeds.map((v) => [v.name, v]));
}

test("feeds: hostile lines refused and counted, failures and shrinks unban nothing, the trap bans meanwhile", { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const inst = await createInstance(t, topo.host);
  const server = await FeedServer.start(topo, inst.dir);

  const garbage = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 7919 + (i >> 8)) % 256));
  const hostile = Buffer.concat([
    Buffer.from(`0.0.0.0/0\n::/0\n${ADDR.hostV4}\n${ADDR.hostV6}\n203.0.113.0/24\n127.0.0.1\n`),
    Buffer.alloc(10 * 1024 * 1024, "9"),
    Buffer.from("\n"),
    garbage,
    Buffer.from(`\n${lines(3000, 5)}`),
  ]);
  await server.write("base.txt", lines(1000, 1024));
  await server.write("mixed.txt", hostile);
  // 2,000,000 lines (26 MB) of 198.18.0.0/15 over and over: the first 1,000 are kept.
  await server.write("huge.txt", Array.from({ length: 20 }, () => lines(4000, 100_000)).join(""));
  await server.write("hang.txt", lines(6000, 50));
  await server.write("err.txt", lines(6100, 50));
  await server.write("shrink.txt", lines(7000, 1000));
  await server.write("empty.txt", lines(8100, 100));
  await inst.writeConfig({ trap_ports: [23], allow: ["203.0.113.0/24"] });
  const feed = (name: string, extra: Record<string, string | number> = {}): Record<string, string | number> => ({ name, url: server.url(`${name}.txt`), interval: "1h", ...extra });
  await appendFile(
    inst.configPath,
    feedTables([feed("base"), feed("mixed"), feed("huge", { max_entries: 1000 }), feed("hang", { timeout: "2s" }), feed("err"), feed("shrink"), feed("empty", { shrink_hold: "3s" })]),
  );

  const d = await inst.start();
  const first = await waitUntil(
    async () => {
      const v = await views(inst);
      return Object.values(v).every((f) => f.last_success !== null) ? v : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 500, what: "every feed fetched once" },
  );
  const expected = { base: 1024, mixed: 5, huge: 1000, hang: 50, err: 50, shrink: 1000, empty: 100 };
  assert.deepEqual(Object.fromEntries(Object.entries(first).map(([k, v]) => [k, v.entries])), expected, d.tail());
  const m = first.mixed?.refused ?? {};
  assert.deepEqual({ too_wide: m.too_wide, ours: m.ours, allowed: m.allowed, loopback: m.loopback }, { too_wide: 2, ours: 2, allowed: 1, loopback: 1 });
  assert.ok((m.malformed ?? 0) >= 2, `the 10 MB line and the garbage are malformed: ${JSON.stringify(m)}`);
  assert.ok((first.huge?.refused.over_limit ?? 0) > 1_000_000, JSON.stringify(first.huge));
  assert.ok(d.lines.some((l) => /feed huge: more than max_entries \(1000\)/.test(l)), d.tail());
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  const listed = await inst.list();
  assert.equal(listed.length, total, "every usable entry banned, nothing refused banned");
  for (const never of ["0.0.0.0/0", "::/0", `${ADDR.hostV4}/32`, "203.0.113.0/24", "127.0.0.1/32"]) {
    assert.ok(!listed.some((e) => e.prefix === never), `${never} must not be banned`);
  }
  await assertServed(topo, ADDR.scannerV4, d, "the host still answers");
  await assertDropped(topo, benchAddress(3002), d, "a usable line of the hostile feed");

  // Now everything goes wrong at once, while a scanner hits the trap.
  await server.fail("hang.txt", "hang");
  await server.fail("err.txt", 500);
  await server.write("shrink.txt", lines(7000, 100));
  await server.write("empty.txt", "");
  // Two fetches failed: the views all the same, and exit 69 (the refresh of a held-back list did not fail).
  const refreshing = views(inst, ["refresh"], EX.UNAVAILABLE);
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  const bad = await refreshing;
  assert.match(bad.hang?.status ?? "", /fetch failed: no complete answer in 2 s; its 50 ban\(s\) kept/);
  assert.match(bad.err?.status ?? "", /fetch failed: HTTP 500/);
  assert.match(bad.shrink?.status ?? "", /held back: the list shrank from 1000 to 100 entries/);
  assert.equal(bad.shrink?.held_back?.entries, 100);
  assert.match(bad.empty?.status ?? "", /held back: the list shrank from 100 to 0 entries/);
  assert.equal((await inst.list()).length, total + 1, "nothing unbanned; the scanner banned");
  for (const n of [6000, 6149, 7999, 8150]) await assertDropped(topo, benchAddress(n), d, "its feed failed or shrank: kept");

  // The same shrunk list again is not news: logged once.
  await views(inst, ["refresh", "shrink"]);
  assert.equal(d.lines.filter((l) => /feed shrink: held back/.test(l)).length, 1, d.tail());

  // Accepted by a person: applied.
  const accepted = await inst.cli("feeds", ["accept", "shrink"]);
  assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);
  assert.match(accepted.stdout, /^applied: .*0 banned, 900 unbanned/);
  await assertServed(topo, benchAddress(7999), d, "accepted shrink unbans what left the list");
  await assertDropped(topo, benchAddress(7050), d, "still in the shrunk list");

  // Unchanged for shrink_hold (3 s): applied by itself.
  await sleep(3_200);
  const held = await views(inst, ["refresh", "empty"]);
  assert.match(held.empty?.status ?? "", /^ok: 0 entries .* 0 banned, 100 unbanned/);
  assert.equal((await inst.list()).length, total + 1 - 900 - 100);

  const nothingHeld = await inst.cli("feeds", ["accept", "base"]);
  assert.equal(nothingHeld.code, EX.DATAERR, nothingHeld.stderr);
  assert.match(nothingHeld.stderr, /feed base holds nothing back/);
  const unknown = await inst.cli("feeds", ["refresh", "nosuch"]);
  assert.equal(unknown.code, EX.DATAERR, unknown.stderr);
  assert.match(unknown.stderr, /no feed named "nosuch" \(feeds: base, mixed/);
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});
