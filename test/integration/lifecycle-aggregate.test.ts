// aggregate_ipv4 = N: once N addresses of one /24 are banned, the /24 is
// banned instead (source "aggregate"): its other addresses are dropped too, the
// single bans inside it are folded into it, and the next /24 is untouched.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

const SCANNERS = ["198.18.3.1", "198.18.3.2", "198.18.3.3"] as const;
const SAME_NET = "198.18.3.77";
const NEXT_NET = "198.18.4.1";

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
    await d.waitForLine(/blocking 198\.18\.3\.0\/24/, 3000);
    await waitDropped(topo, SAME_NET, d);
    await assertServed(topo, NEXT_NET, d, "the next /24");

    await sleep(1000);
    for (const src of [...SCANNERS, SAME_NET]) await assertDropped(topo, src, d, "inside the aggregated /24");
    const prefixes = (await d.instance.list()).map((e) => e.prefix);
    assert.deepEqual(prefixes, ["198.18.3.0/24"], `the single bans are folded into the /24\n${d.tail()}`);
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
  await sleep(1000);
  await assertServed(topo, SAME_NET, d, "another address of the /24");
  const prefixes = (await d.instance.list()).map((e) => e.prefix).sort();
  assert.deepEqual(prefixes, SCANNERS.map((s) => `${s}/32`), `three single bans\n${d.tail()}`);
});
