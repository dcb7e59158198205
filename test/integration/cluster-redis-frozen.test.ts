// A Redis that is stopped (SIGSTOP), not gone (issue 28): its connection stays
// open and it answers nothing. `iblock stats` and `iblock cluster status` ask it
// (a PING, at most 2 s) and say it is not answering since its last reply,
// never "Redis up"; once it runs again they say up. No timing bet: a stopped
// process never answers, however long the probe waits.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet } from "../support/fleet.js";
import { waitUntil } from "../support/proc.js";

interface StatsJson {
  daemon?: { cluster?: { redis: string; since: string | null; error?: string } };
}

void test("stats while Redis is stopped (SIGSTOP): not answering since its last reply, then up again", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const a = await fleet.host(t, "a");
  const d = await a.start();
  await d.waitForLine(/cluster: connected to Redis/, 10_000);
  const stats = async (): Promise<StatsJson> => {
    const r = await a.cli("stats", ["--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as StatsJson;
  };
  assert.equal((await stats()).daemon?.cluster?.redis, "up");
  const answeredBefore = Date.now();

  const pid = fleet.redis?.pid;
  assert.ok(pid, "redis-server's pid");
  process.kill(pid, "SIGSTOP");
  try {
    const frozen = (await stats()).daemon?.cluster;
    assert.equal(frozen?.redis, "down", JSON.stringify(frozen));
    assert.equal(frozen.error, "not answering: no reply to PING within 2 s");
    // Since its last reply: the one to the stats above, not now.
    assert.ok(Date.parse(frozen.since ?? "") <= answeredBefore, JSON.stringify(frozen));
    const text = await a.cli("stats");
    assert.match(text.stdout, /^cluster test as a: Redis DOWN since \S+ \(not answering: no reply to PING within 2 s\)/m, text.stdout);
    assert.doesNotMatch(text.stdout, /Redis up/);
    const status = await a.cli("cluster", ["status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^redis: UNREACHABLE since \S+ \(not answering: no reply to PING within 2 s\)$/m, status.stdout);
  } finally {
    process.kill(pid, "SIGCONT");
  }
  await waitUntil(async () => ((await stats()).daemon?.cluster?.redis === "up" ? true : undefined), { timeoutMs: 10_000, intervalMs: 200, what: "stats to say Redis is up again" });
});
