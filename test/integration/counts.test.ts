// One truth for counts (issue 28): a daemon without [http] bans, then one with
// it reads the same history. /api/stats, `iblock stats --json` and `iblock top`
// give the same numbers; an admin's ban is no hit; the history's last minute
// holds the bans in force at once (the dashboard chart's first point). Before,
// the per-minute table was written only while [http] was on: /api/stats said
// 0 bans in the last 24 h here while `stats` said 4.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertTrapHit, waitListed } from "../support/checks.js";
import { createInstance, EX, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Bridge } from "../support/http-bridge.js";
import { createTopology } from "../support/netns.js";

const SCAN = ["192.0.2.31", "192.0.2.32", "192.0.2.33"] as const;
const MANUAL = "198.51.100.9";

void test("bans made with [http] off are counted alike by /api/stats, stats and top once it is on", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { extraV4: [...SCAN] });
  const inst = await createInstance(t, topo.host, {});
  const first = await inst.start();
  for (const [i, src] of SCAN.entries()) await assertTrapHit(topo, src, [23, 23, 445][i] ?? 23, first);
  for (const src of SCAN) await waitListed(inst, `${src}/32`);
  const banned = await inst.cli("ban", [MANUAL]);
  assert.equal(banned.code, EX.OK, banned.stderr);
  await first.waitForLine(new RegExp(`blocking ${MANUAL.replace(/\./g, "\\.")} \\(cli\\)$`), 3000);
  await first.stop();

  await inst.writeConfig({ http: { enabled: true } } as unknown as IblockConfig);
  const d = await inst.start();
  const api = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const fromApi = (await api.request("/api/stats")).json<{ active: number; bans_last_24h: number; hits_last_24h: number; top_ports: { port: number; hits: number }[] }>();
  const cli = await inst.cli("stats", ["--json"]);
  assert.equal(cli.code, EX.OK, cli.stderr);
  const fromCli = JSON.parse(cli.stdout) as typeof fromApi;
  const expected = { active: 4, bans_last_24h: 4, hits_last_24h: 3, top_ports: [{ port: 23, hits: 2 }, { port: 445, hits: 1 }] };
  const pick = (s: typeof fromApi): typeof expected => ({ active: s.active, bans_last_24h: s.bans_last_24h, hits_last_24h: s.hits_last_24h, top_ports: s.top_ports });
  assert.deepEqual(pick(fromApi), expected, "/api/stats");
  assert.deepEqual(pick(fromCli), expected, "iblock stats --json");
  const top = await inst.cli("top", ["--once", "--minutes", "1440"]);
  assert.equal(top.code, EX.OK, top.stderr);
  assert.match(top.stdout, /^bans in force +4$/m, top.stdout);
  assert.match(top.stdout, /^last 1440 min +4 bans .*, 3 hits$/m, top.stdout);
  assert.match(top.stdout, /^top trap ports +23 \(2\) {2}445 \(1\)$/m, top.stdout);

  // The chart's data: its last minute is now, with the bans in force.
  const history = (await api.request("/api/history?hours=1")).json<{ minutes: { minute: number; active: number }[] }>();
  const last = history.minutes.at(-1);
  assert.equal(last?.active, 4, JSON.stringify(history.minutes));
  assert.ok(last !== undefined && Date.now() - last.minute < 120_000, JSON.stringify(last));
  assert.ok(d.running, d.tail());
});
