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
import { sleep } from "../support/proc.js";

const BAN_MS = 3000;
const MULTIPLIER = 2;
const SECOND_BAN_MS = BAN_MS * MULTIPLIER;
// Kernel timeouts are whole seconds and the daemon closes expired bans once a second.
const SLACK_MS = 1500;
const expiredRe = /unblocking 192\.0\.2\.2(\/32)? \(expired\)/;

const sleepUntil = (at: number): Promise<void> => sleep(Math.max(0, at - Date.now()));

/** Hit a trap port; the scanner is dropped (at once with the kernel route). Returns when the hit was made. */
async function banByTrap(topo: Topology, d: Daemon, kernelRoute: boolean, why: string): Promise<number> {
  const at = Date.now();
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  if (kernelRoute) await assertDropped(topo, ADDR.scannerV4, d, why);
  else await waitDropped(topo, ADDR.scannerV4, d);
  return at;
}

/** Served again within [minMs, maxMs] of `since`; returns the time it took. */
async function servedAgainWithin(topo: Topology, d: Daemon, since: number, minMs: number, maxMs: number, what: string): Promise<number> {
  await waitServed(topo, ADDR.scannerV4, d, Math.max(0, since + maxMs - Date.now()));
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
    await sleepUntil(hit1 + BAN_MS - 1000);
    await assertDropped(topo, ADDR.scannerV4, d, "2 s into a 3 s ban");
    await assertServed(topo, ADDR.otherV4, d, "an innocent source meanwhile");

    await servedAgainWithin(topo, d, hit1, BAN_MS - 500, BAN_MS + SLACK_MS, "the first ban");
    await d.waitForLine(expiredRe, 2000);
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
    const left = remainingMs(second) + (Date.now() - hit2);
    assert.ok(Math.abs(left - SECOND_BAN_MS) <= 1000, `"expires" is about 6 s after the second hit: ${left} ms, ${JSON.stringify(second)}`);

    // Past the first ban's length (and past the kernel route's own 3 s timeout): still dropped.
    await sleepUntil(hit2 + BAN_MS + SLACK_MS);
    await assertDropped(topo, ADDR.scannerV4, d, "4.5 s into the 6 s second ban");
    await sleepUntil(hit2 + SECOND_BAN_MS - 1000);
    await assertDropped(topo, ADDR.scannerV4, d, "5 s into the 6 s second ban");

    await servedAgainWithin(topo, d, hit2, SECOND_BAN_MS - 500, SECOND_BAN_MS + SLACK_MS, "the second ban");
    await waitUntilCount(d, expiredRe, 2);
    assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
    assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);
  });
}

async function waitUntilCount(d: Daemon, re: RegExp, n: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (linesMatching(d, re).length < n && Date.now() < deadline) await sleep(50);
  assert.equal(linesMatching(d, re).length, n, `${n} "expired" lines\n${d.tail()}`);
}
