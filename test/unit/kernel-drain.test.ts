import assert from "node:assert/strict";
import { test } from "node:test";
import { HitJoiner } from "../../src/bans/hit-join.js";
import type { Firewall, KernelHit } from "../../src/firewall/firewall.js";
import { Logger } from "../../src/log.js";
import { parsePrefix } from "../../src/net/address.js";
import { AllowList } from "../../src/policy/allow.js";
import { Policy } from "../../src/policy/policy.js";
import { DRAIN_BUSY_MS, DRAIN_QUIET_MS, KernelDrain } from "../../src/trap/kernel-drain.js";

test("the report sets are read every 100 ms from the start and after a hit, every second after a quiet minute", async () => {
  const reports: KernelHit[] = [];
  const firewall = { drainKernelHits: () => Promise.resolve({ hits: reports.splice(0), overflowed: false }) } as unknown as Firewall;
  const submitted: string[] = [];
  const hits = new HitJoiner((r, n) => submitted.push(`${String(r.port)} ${r.source} x${n}`));
  const policy = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => []);
  let now = 1_000_000;
  const drain = new KernelDrain({ firewall: () => firewall, kernelRoute: () => true, policy, hits, log: new Logger(() => undefined), overflowed: () => undefined }, () => now);

  assert.equal(drain.intervalMs(), DRAIN_BUSY_MS, "a daemon starts busy");
  now += 59_999;
  await drain.drain();
  assert.equal(drain.intervalMs(), DRAIN_BUSY_MS);
  now += 1;
  await drain.drain();
  assert.equal(drain.intervalMs(), DRAIN_QUIET_MS, "a minute with no hit: quiet");

  reports.push({ prefix: parsePrefix("192.0.2.2"), port: 23, syn: false });
  await drain.drain();
  assert.deepEqual(submitted, ["23 kernel x1"]);
  assert.equal(drain.intervalMs(), DRAIN_BUSY_MS, "a hit: busy again");
  now += 60_000;
  assert.equal(drain.intervalMs(), DRAIN_QUIET_MS);
});
