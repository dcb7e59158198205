// What leaves the outbox after a batch, by what Redis's primary said: a
// replica took it (forgotten), none took it (kept), ROLE or WAIT refused by
// Redis (forgotten, said once), a failure of the moment (kept, retried). A
// fake link stands for Redis; the real one is in the failover integration test.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RedisLink } from "../../src/cluster/connection.js";
import { fleetKeys } from "../../src/cluster/keys.js";
import type { ClusterMetrics } from "../../src/cluster/metrics.js";
import type { ClusterStore, OutboxRow } from "../../src/cluster/outbox.js";
import { Publisher } from "../../src/cluster/publisher.js";
import { Logger } from "../../src/log.js";
import type { Store } from "../../src/store/store.js";

// ioredis re-exports redis-errors' class untyped.
const ReplyError = (await import("ioredis")).ReplyError as unknown as new (message: string) => Error;
const MASTER_WITH_REPLICA = ["master", 100, [["198.51.100.10", "6380", "100"]]];

async function publishOnce(redis: { role: () => Promise<unknown>; wait: () => Promise<number> }): Promise<{ sent: number[]; lines: string[]; failed: number }> {
  const rows: OutboxRow[] = [{ id: 7, message: { kind: "ban", origin: "a", prefix: "192.0.2.2/32", expires: "", reason: "trap", port: "23", at: "1", seq: "1", hmac: "00" } as never }];
  const sent: number[] = [];
  const outbox = { storeId: "s", lastSeq: 0, head: () => (sent.length ? [] : rows), sent: (id: number) => sent.push(id), add: () => undefined } as unknown as ClusterStore;
  const primary = { role: redis.role, wait: redis.wait };
  const link = { commands: { ...primary, eval: () => Promise.resolve(1) }, singlePrimary: primary, state: { up: true } } as unknown as RedisLink;
  const lines: string[] = [];
  let failed = 0;
  const metrics = { publishFailed: () => failed++ } as unknown as ClusterMetrics;
  const p = new Publisher({ node: "a", fleet: "f", secret: Buffer.alloc(32), share: ["trap"], keys: fleetKeys("f"), skewMs: 60_000 }, outbox, {} as Store, link, new Logger((l) => lines.push(l)), metrics);
  p.kick();
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  await p.stop(0);
  return { sent, lines, failed };
}

test("a replica took the batch: forgotten", async () => {
  const r = await publishOnce({ role: () => Promise.resolve(MASTER_WITH_REPLICA), wait: () => Promise.resolve(1) });
  assert.deepEqual(r.sent, [7]);
});

test("no replica took it within the wait: kept, said", async () => {
  const r = await publishOnce({ role: () => Promise.resolve(MASTER_WITH_REPLICA), wait: () => Promise.resolve(0) });
  assert.deepEqual(r.sent, []);
  assert.equal(r.lines.filter((l) => l.includes("no replica of Redis's primary took our last 1 message(s)")).length, 1);
});

test("ROLE or WAIT refused by Redis: forgotten as without a replica, said once", async () => {
  for (const redis of [
    { role: () => Promise.reject(new ReplyError("NOPERM User iblock has no permissions to run the 'role' command")), wait: () => Promise.resolve(1) },
    { role: () => Promise.resolve(MASTER_WITH_REPLICA), wait: () => Promise.reject(new ReplyError("ERR unknown command 'WAIT'")) },
  ]) {
    const r = await publishOnce(redis);
    assert.deepEqual(r.sent, [7]);
    assert.equal(r.lines.filter((l) => l.includes("give the fleet's Redis user +role +wait")).length, 1, r.lines.join("\n"));
  }
});

test("ROLE or WAIT failing for the moment: kept, the send counted as failed", async () => {
  for (const redis of [
    { role: () => Promise.reject(new Error("Connection is closed.")), wait: () => Promise.resolve(1) },
    { role: () => Promise.resolve(MASTER_WITH_REPLICA), wait: () => Promise.reject(new Error("Command timed out")) },
  ]) {
    const r = await publishOnce(redis);
    assert.deepEqual(r.sent, []);
    assert.equal(r.failed, 1);
  }
});
