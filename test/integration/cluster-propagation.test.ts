// Three hosts share bans through a real redis-server: a scanner that touches a
// trap port on host A is dropped by B and C too (real packets from the scanner
// namespace); `ban --local` stays on its host; `iblock cluster status` and
// `iblock stats` say how the fleet is doing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_ADDR, SERVICE_PORT, TRAP_PORT } from "../support/fleet.js";
import { sleep, waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

void test("a ban on A is enforced on B and C; a --local ban is not shared", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server"])) return;
  const fleet = await Fleet.create(t);
  const [a, b, c] = [await fleet.host(t, "a"), await fleet.host(t, "b"), await fleet.host(t, "c")];
  const [da, db, dc] = [await a.start(), await b.start(), await c.start()];
  for (const d of [da, db, dc]) await d.waitForLine(/cluster: connected to Redis/, 10_000);

  const scanner = stormSource(0);
  // Before: every host serves it.
  for (const h of ["a", "b", "c"] as const) assert.equal(await fleet.probe(scanner, h, SERVICE_PORT, 2000), "connected", `${h} serves ${scanner} before`);
  const hit = await fleet.probe(scanner, "a", TRAP_PORT, 2000);
  assert.ok(hit === "connected" || hit === "reset", `the trap on A answers the handshake (${hit})`);
  await fleet.waitDropped(scanner, "a");
  await fleet.waitDropped(scanner, "b", 5_000).catch((e: Error) => assert.fail(`${e.message}\n${db.tail()}`));
  await fleet.waitDropped(scanner, "c", 5_000).catch((e: Error) => assert.fail(`${e.message}\n${dc.tail()}`));
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
  await sleep(1_000);
  assert.equal(await fleet.probe(local, "b", SERVICE_PORT, 2000), "connected", "B still serves the --local ban's address");
  const stream = await fleet.stream();
  assert.deepEqual(
    stream.map((e) => [e.fields.origin, e.fields.kind, e.fields.prefix]),
    [["a", "ban", `${scanner}/32`]],
    "the stream holds A's trap ban, once, and not the local one",
  );

  // An unban on A lifts the peer bans on B and C.
  assert.equal((await a.cli("unban", [scanner])).code, 0);
  await waitUntil(async () => (await fleet.probe(scanner, "c", SERVICE_PORT, 300)) === "connected", { timeoutMs: 5_000, intervalMs: 50, what: `C to serve ${scanner} again\n${dc.tail()}` });
  assert.equal(await fleet.probe(scanner, "b", SERVICE_PORT, 2000), "connected", "B serves it again");

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
});
