// aggregate_ipv4 = N: once N addresses of one /24 are banned, the /24 is
// banned instead (source "aggregate"): its other addresses are dropped too, the
// single bans inside it are folded into it, and the next /24 is untouched.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

const SCANNERS = ["198.18.3.1", "198.18.3.2", "198.18.3.3"] as const;
const SAME_NET = "198.18.3.77";
const NEXT_NET = "198.18.4.1";
// Banned by hand after the scanners: once it is in, whatever their bans set going has gone.
const MARKER = "203.0.113.77";

for (const kernelRoute of [true, false]) {
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";
  const base: IblockConfig = kernelRoute ? {} : { kernel_route: false };

  void test(`aggregate_ipv4 = 3: the third banned address of a /24 bans the /24, ${route}`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t, { manySources: true });
    const d = await startDaemon(t, topo.host, { ...base, aggregate_ipv4: 3 });

    for (const [i, src] of SCANNERS.entries()) {
      await assertTrapHit(topo, src, 23, d);
      await waitDropped(topo, src, d);
      if (i < SCANNERS.length - 1) {
        await waitListed(d.instance, `${src}/32`);
        await assertServed(topo, SAME_NET, d, `${i + 1} of 3 addresses of its /24 banned`);
      }
    }
    const wide = await waitListed(d.instance, "198.18.3.0/24");
    assert.equal(wide.source, "aggregate", `listed as an aggregate: ${JSON.stringify(wide)}`);
    await d.waitForLine(/blocking 198\.18\.3\.0\/24/, 10_000);
    await waitDropped(topo, SAME_NET, d);
    await assertServed(topo, NEXT_NET, d, "the next /24");

    // The single bans are ended once the /24 is in: polled, not given a second.
    const folded = await waitUntil(async () => {
      const prefixes = (await d.instance.list()).map((e) => e.prefix);
      return prefixes.length === 1 ? prefixes : undefined;
    }, { timeoutMs: 20_000, what: "the single bans folded into the /24" }).catch(async () => (await d.instance.list()).map((e) => e.prefix));
    assert.deepEqual(folded, ["198.18.3.0/24"], `the single bans are folded into the /24\n${d.tail()}`);
    for (const src of [...SCANNERS, SAME_NET]) await assertDropped(topo, src, d, "inside the aggregated /24");
  });
}

void test("without aggregate_ipv4, three banned addresses of a /24 stay three bans", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const d = await startDaemon(t, topo.host, {});
  for (const src of SCANNERS) {
    await assertTrapHit(topo, src, 23, d);
    await waitDropped(topo, src, d);
  }
  // A /24 the third ban brought would be queued before this ban, which the CLI waits for.
  for (const src of SCANNERS) await waitListed(d.instance, `${src}/32`, 20_000);
  assert.equal((await d.instance.cli("ban", [MARKER])).code, 0, d.tail());
  await assertServed(topo, SAME_NET, d, "another address of the /24");
  const prefixes = (await d.instance.list()).map((e) => e.prefix).sort();
  assert.deepEqual(prefixes, [...SCANNERS.map((s) => `${s}/32`), `${MARKER}/32`].sort(), `three single bans\n${d.tail()}`);
});
