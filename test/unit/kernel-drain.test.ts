import assert from "node:assert/strict";
import { test } from "node:test";
import { HitJoiner } from "../../src/bans/hit-join.js";
import type { Firewall, KernelHit } from "../../src/firewall/firewall.js";
import { Logger } from "../../src/log.js";
import { parsePrefix } from "../../src/net/address.js";
import { AllowList } from "../../src/policy/allow.js";
import { Policy } from "../../src/policy/policy.js";
import { KernelDrain } from "../../src/trap/kernel-drain.js";

/** A firewall whose report sets hold what the test puts there; counts its reads. */
function reportingFirewall(): { firewall: Firewall; reports: KernelHit[]; reads: () => number } {
  const reports: KernelHit[] = [];
  let reads = 0;
  const firewall = {
    drainKernelHits: () => {
      reads++;
      return Promise.resolve({ hits: reports.splice(0), overflowed: false });
    },
  } as unknown as Firewall;
  return { firewall, reports, reads: () => reads };
}

test("soon(): a held listener hit gets its report at once, not at the next periodic round; a burst is read together", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 10_000 });
  const { firewall, reports, reads } = reportingFirewall();
  const submitted: string[] = [];
  const policy = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => []);
  const drain: { d?: KernelDrain } = {};
  const hits = new HitJoiner((r, n) => submitted.push(`${String(r.port)} ${r.source} x${n}`), undefined, () => drain.d?.soon());
  drain.d = new KernelDrain({ firewall: () => firewall, kernelRoute: () => true, policy, hits, log: new Logger(() => undefined), overflowed: () => undefined });

  const src = parsePrefix("192.0.2.2");
  reports.push({ prefix: src, port: 23, syn: false });
  hits.listenerHit(src, undefined, true);
  assert.equal(reads(), 0, "not read in the same tick");
  t.mock.timers.tick(0);
  await drain.d.idle();
  assert.equal(reads(), 1, "read at once");
  assert.deepEqual(submitted, ["23 trap x1"]);

  // A second source right after: read no sooner than 100 ms after the last read ended.
  const other = parsePrefix("192.0.2.3");
  reports.push({ prefix: other, port: 445, syn: false });
  hits.listenerHit(other, undefined, true);
  hits.listenerHit(parsePrefix("192.0.2.4"), undefined, true);
  t.mock.timers.tick(99);
  await drain.d.idle();
  assert.equal(reads(), 1, "a storm's hits wait for the gap");
  t.mock.timers.tick(1);
  await drain.d.idle();
  assert.equal(reads(), 2, "then read together, once");
  assert.deepEqual(submitted, ["23 trap x1", "445 trap x1"]);

  // Stopped: a hit held afterwards asks for nothing.
  await drain.d.stop();
  hits.listenerHit(parsePrefix("192.0.2.9"), undefined, true);
  t.mock.timers.tick(1000);
  await drain.d.idle();
  assert.equal(reads(), 2);
});
