// Three hosts share bans through a real redis-server: a scanner that touches a
// trap port on host A is dropped by B and C too (real packets from the scanner
// namespace); `ban --local` stays on its host; `iblock cluster status` and
// `iblock stats` say how the fleet is doing, and so does B's /metrics
// (read inside its namespace through a bridge, parsed as Prometheus text).
import assert from "node:assert/strict";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import type { IblockConfig } from "../support/daemon.js";
import { Fleet, FLEET_ADDR, FLEET_NAME, SERVICE_PORT, TRAP_PORT } from "../support/fleet.js";
import { Bridge } from "../support/http-bridge.js";
import { parseMetrics } from "../support/prometheus.js";
import { waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

void test("a ban on A is enforced on B and C; a --local ban is not shared", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server"])) return;
  const fleet = await Fleet.create(t);
  const [a, b, c] = [await fleet.host(t, "a"), await fleet.host(t, "b", { http: { enabled: true } } as unknown as IblockConfig), await fleet.host(t, "c")];
  const [da, db, dc] = [await a.start(), await b.start(), await c.start()];
  for (const d of [da, db, dc]) await d.waitForLine(/cluster: connected to Redis/, 10_000);

  const scanner = stormSource(0);
  // Before: every host serves it.
  for (const h of ["a", "b", "c"] as const) assert.equal(await fleet.probe(scanner, h, SERVICE_PORT, 2000), "connected", `${h} serves ${scanner} before`);
  const hit = await fleet.probe(scanner, "a", TRAP_PORT, 2000);
  assert.ok(hit === "connected" || hit === "reset", `the trap on A answers the handshake (${hit})`);
  await fleet.waitDropped(scanner, "a");
  await fleet.waitDropped(scanner, "b").catch((e: Error) => assert.fail(`${e.message}\n${db.tail()}`));
  await fleet.waitDropped(scanner, "c").catch((e: Error) => assert.fail(`${e.message}\n${dc.tail()}`));
  const onB = (await b.list()).find((e) => e.prefix === `${scanner}/32`);
  assert.equal(onB?.source, "peer", `B lists ${scanner} as a peer's ban: ${JSON.stringify(onB)}`);
  assert.match(String(onB.reason), /^a: /, "the reason names the origin");
  // The peer's expiry is A's: the same instant on both hosts.
  const onA = (await a.list()).find((e) => e.prefix === `${scanner}/32`);
  assert.equal(onB.expires, onA?.expires, "B's ban ends when A's does");

  // A --local ban on A: banned there, in no message, on no other host.
  const local = stormSource(1);
  const r = await a.cli("ban", [local, "--local"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await fleet.probe(local, "a", SERVICE_PORT, 500), "timeout", "the local ban drops on A");

  // An unban on A lifts the peer bans on B and C. Sent after the local ban: once B has
  // it, B would have had a message for the local ban too, had A sent one.
  assert.equal((await a.cli("unban", [scanner])).code, 0);
  for (const [h, d] of [["c", dc], ["b", db]] as const) {
    await waitUntil(async () => (await fleet.probe(scanner, h, SERVICE_PORT, 300)) === "connected", { timeoutMs: 15_000, intervalMs: 50, what: `${h} to serve ${scanner} again\n${d.tail()}` });
  }
  assert.equal(await fleet.probe(local, "b", SERVICE_PORT, 2000), "connected", "B still serves the --local ban's address");
  const stream = await fleet.stream();
  assert.deepEqual(
    stream.map((e) => [e.fields.origin, e.fields.kind, e.fields.prefix]),
    [["a", "ban", `${scanner}/32`], ["a", "unban", `${scanner}/32`]],
    "the stream holds A's trap ban, once, its unban, and not the local ban",
  );
  // A Redis without replicas is asked ROLE with each batch, and never sent a WAIT (which would hold each batch a second).
  const commands = (await fleet.redisCli(["INFO", "commandstats"])).stdout;
  assert.match(commands, /^cmdstat_role:calls=[1-9]/m, commands);
  assert.doesNotMatch(commands, /^cmdstat_wait:/m, commands);

  // Status: Redis up, A seen with its last ban, nothing waiting in the outbox.
  const status = await b.cli("cluster", ["status", "--json"]);
  assert.equal(status.code, 0, status.stderr);
  const view = JSON.parse(status.stdout) as { redis: string; outbox: number; peers: { node: string; last_ban: string | null; recent: boolean }[] };
  assert.equal(view.redis, "up");
  assert.equal(view.outbox, 0);
  const peerA = view.peers.find((p) => p.node === "a");
  assert.ok(peerA?.recent && peerA.last_ban, `A is a recent peer with a last ban: ${status.stdout}`);
  const text = await c.cli("cluster", ["status"]);
  assert.match(text.stdout, /redis: reachable/);
  const stats = await b.cli("stats", ["--json"]);
  const s = JSON.parse(stats.stdout) as { daemon?: { cluster?: { redis: string; node: string } } };
  assert.equal(s.daemon?.cluster?.redis, "up", stats.stdout);
  assert.equal(s.daemon.cluster.node, "b");
  // Nothing was refused on the way.
  for (const d of [da, db, dc]) assert.deepEqual(linesMatching(d, /cluster: refused/), [], d.tail());
  assert.ok(FLEET_ADDR.a);

  // B's metrics: Redis up, nothing waiting, A's ban and unban applied, nothing refused yet.
  const http = await Bridge.open(t, fleet.ns.b, "127.0.0.1", 9107);
  const metrics = async (): Promise<ReturnType<typeof parseMetrics>> => {
    const res = await http.request("/metrics");
    assert.equal(res.status, 200, res.text);
    return parseMetrics(res.text);
  };
  let m = await metrics();
  assert.equal(m.value("iblock_cluster_redis_up"), 1);
  assert.equal(m.value("iblock_cluster_outbox_messages"), 0);
  assert.equal(m.value("iblock_cluster_peer_bans_applied_total"), 2, "A's ban and A's unban");
  assert.equal(m.value("iblock_cluster_catchups_total"), 1, "the start's catch-up from the (empty) snapshot");
  assert.equal(m.value("iblock_cluster_publish_errors_total"), 0);
  const lag = m.value("iblock_cluster_lag_seconds");
  assert.ok(lag !== undefined && lag >= 0 && lag < 5, `lag of A's last message: ${lag}`);
  assert.equal(m.value("iblock_cluster_peer_messages_refused_total", { reason: "hmac" }), undefined);

  // A message with a wrong HMAC: refused, and counted by reason.
  const forged = { origin: "a", kind: "ban", prefix: "198.18.200.1/32", expires: "", reason: "trap", port: "23", at: String(Date.now()), seq: String(Date.now() * 1000), hmac: "0".repeat(64) };
  const from = db.lines.length;
  await fleet.redisCli(["XADD", `iblock:{${FLEET_NAME}}:events`, "*", ...Object.entries(forged).flat()]);
  await db.waitForLine(/cluster: refused .*wrong hmac/, 5_000, from);
  m = await metrics();
  assert.equal(m.value("iblock_cluster_peer_messages_refused_total", { reason: "hmac" }), 1);
  assert.equal(m.value("iblock_cluster_peer_bans_applied_total"), 2, "the forged ban was not applied");

  // Redis stopped: B says so in its metrics, and its own ban waits in the outbox.
  await fleet.stopRedis(false);
  await db.waitForLine(/cluster: Redis unreachable/, 10_000, from);
  assert.equal((await b.cli("ban", [stormSource(2)])).code, 0);
  await waitUntil(async () => (await metrics()).value("iblock_cluster_outbox_messages") === 1, { timeoutMs: 15_000, what: "B's ban in the outbox metric" });
  m = await metrics();
  assert.equal(m.value("iblock_cluster_redis_up"), 0);
  assert.ok((m.value("iblock_cluster_publish_errors_total") ?? 0) >= 1, "the failed send is counted");
});
