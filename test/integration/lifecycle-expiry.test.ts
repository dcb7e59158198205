// Expiry and repeat offenders: with ban_time = "3s" a scanner's first ban ends
// by itself after about 3 s (the kernel's element timeout, and the daemon logs
// "unblocking ADDR (expired)"); when it comes back, its second ban lasts
// ban_time x repeat_multiplier = 6 s. Run with the kernel route (the kernel
// adds the first ban with its own timeout and the daemon must lengthen it) and
// without it (the daemon adds every ban).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, linesMatching, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { startDaemon, type Daemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { banLengthMs, remainingMs } from "../support/lifecycle.js";
import { ADDR, createTopology, type Topology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

const BAN_MS = 3000;
const MULTIPLIER = 2;
const SECOND_BAN_MS = BAN_MS * MULTIPLIER;
// How late the end of a ban may be seen: the kernel's timeouts are whole seconds, the
// daemon closes expired bans once a second, and this machine may be busy. Only an
// upper bound: a slow machine sees the end later, never sooner.
const LATE_MS = 10_000;
// How early: the kernel rounds a timeout to whole seconds.
const EARLY_MS = 500;
const expiredRe = /unblocking 192\.0\.2\.2(\/32)? \(expired\)/;

/** Hit a trap port; the scanner is dropped (at once with the kernel route). Returns a time before the hit. */
async function banByTrap(topo: Topology, d: Daemon, kernelRoute: boolean, why: string): Promise<number> {
  const at = Date.now();
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  if (kernelRoute) await assertDropped(topo, ADDR.scannerV4, d, why);
  else await waitDropped(topo, ADDR.scannerV4, d);
  return at;
}

/**
 * Dropped without a break until served again, at least `minMs` after `since` (a time
 * before the ban began): probed every few ms from now on, so an early end or a gap
 * in between (the kernel's own timeout, say) is seen. Returns the time it took.
 */
async function droppedForAtLeast(topo: Topology, d: Daemon, since: number, minMs: number, what: string): Promise<number> {
  await waitServed(topo, ADDR.scannerV4, d, minMs + LATE_MS);
  const took = Date.now() - since;
  assert.ok(took >= minMs, `${what} ended after ${took} ms, before its ${minMs} ms\n${d.tail()}`);
  return took;
}

for (const kernelRoute of [true, false]) {
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";
  const config: IblockConfig = {
    ban_time: "3s",
    repeat_multiplier: MULTIPLIER,
    ...(kernelRoute ? {} : { kernel_route: false }),
  };

  void test(`a 3 s ban expires by itself and a repeat offender's second ban lasts 6 s, ${route}`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t);
    const d = await startDaemon(t, topo.host, config);
    await assertServed(topo, ADDR.scannerV4, d, "before any trap");

    // First ban: ban_time.
    const hit1 = await banByTrap(topo, d, kernelRoute, "right after the first trap connect");
    const first = await waitListed(d.instance, "192.0.2.2/32");
    const firstLen = banLengthMs(first);
    assert.ok(Math.abs(firstLen - BAN_MS) <= 500, `first ban lasts ban_time (3 s): ${firstLen} ms, ${JSON.stringify(first)}`);
    await assertServed(topo, ADDR.otherV4, d, "an innocent source meanwhile");

    await droppedForAtLeast(topo, d, hit1, BAN_MS - EARLY_MS, "the first ban");
    await d.waitForLine(expiredRe, LATE_MS);
    assert.ok(!(await d.instance.list()).some((e) => e.prefix === "192.0.2.2/32"), `an expired ban is not listed\n${d.tail()}`);
    await assertServed(topo, ADDR.scannerV4, d, "after the first ban ended");

    // Second ban, same source, same trap port: ban_time x repeat_multiplier.
    const hit2 = await banByTrap(topo, d, kernelRoute, "right after the second trap connect");
    const second = await waitListed(d.instance, "192.0.2.2/32");
    const secondLen = banLengthMs(second);
    assert.ok(
      Math.abs(secondLen - SECOND_BAN_MS) <= 500,
      `second ban lasts ban_time x repeat_multiplier (6 s): ${secondLen} ms, ${JSON.stringify(second)}\n${d.tail()}`,
    );
    // From the second hit, not the first: never before it, and not from a much later time.
    const left = remainingMs(second) + (Date.now() - hit2);
    assert.ok(left >= SECOND_BAN_MS - EARLY_MS && left <= SECOND_BAN_MS + LATE_MS, `"expires" is about 6 s after the second hit: ${left} ms, ${JSON.stringify(second)}`);

    // Past the first ban's length (and past the kernel route's own 3 s timeout): still dropped, without a gap.
    await droppedForAtLeast(topo, d, hit2, SECOND_BAN_MS - EARLY_MS, "the second ban");
    await waitUntilCount(d, expiredRe, 2);
    assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
    assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);
  });
}

async function waitUntilCount(d: Daemon, re: RegExp, n: number): Promise<void> {
  await waitUntil(() => linesMatching(d, re).length >= n, { timeoutMs: LATE_MS, what: `${n} "expired" lines` }).catch(() => undefined);
  assert.equal(linesMatching(d, re).length, n, `${n} "expired" lines\n${d.tail()}`);
}
