// Ban prefixes other than the defaults (ban-v4-v6.test.ts has the default /64):
// ipv6_prefix = 128 bans the IPv6 address alone; ipv4_prefix = 24 bans a
// scanner's /24; and a widened ban never swallows the host's own addresses
// (allow_self), falling back to the address alone. What is dropped must be
// what is listed, on the kernel route as on the listener's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, blockingRe, linesMatching, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

// Longer than the daemon's drain of the kernel's hits (every 100 ms in its first minute) and its batching.
const SETTLE_MS = 1200;

for (const kernelRoute of [true, false]) {
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";
  const base: IblockConfig = kernelRoute ? {} : { kernel_route: false };

  void describe(`ban prefixes, ${route}`, () => {
    void test("ipv6_prefix = 128 bans the scanner's address alone, not its /64", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, { ...base, ipv6_prefix: 128 });

      await assertTrapHit(topo, ADDR.scannerV6, 23, d);
      if (kernelRoute) await assertDropped(topo, ADDR.scannerV6, d, "right after the trap connect");
      else await waitDropped(topo, ADDR.scannerV6, d);
      await assertServed(topo, ADDR.scannerV6Sibling, d, "another address of the scanner's /64");
      await assertServed(topo, ADDR.otherV6, d, "another /64");

      await waitListed(d.instance, "2001:db8:0:1::2/128");
      await d.waitForLine(blockingRe(ADDR.scannerV6), 10_000);
      await sleep(SETTLE_MS);
      await assertDropped(topo, ADDR.scannerV6, d, "a moment later");
      await assertServed(topo, ADDR.scannerV6Sibling, d, "a moment later");
      assert.deepEqual(
        (await d.instance.list()).map((e) => e.prefix),
        ["2001:db8:0:1::2/128"],
        `only the address is listed\n${d.tail()}`,
      );
      // Killing the banned source's connections takes a /128 too (ss needs it as a prefix or in brackets).
      assert.deepEqual(linesMatching(d, /could not kill states/), [], `states of a /128 ban are killed without error\n${d.tail()}`);
    });

    void test("ipv4_prefix = 24 bans the scanner's /24, not its neighbour /24", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t, { manySources: true });
      const d = await startDaemon(t, topo.host, { ...base, ipv4_prefix: 24 });
      const [scanner, sameNet, nextNet] = ["198.18.7.5", "198.18.7.200", "198.18.8.5"];

      await assertServed(topo, sameNet, d, "before any trap");
      await assertTrapHit(topo, scanner, 23, d);
      if (kernelRoute) await assertDropped(topo, scanner, d, "right after the trap connect");
      else await waitDropped(topo, scanner, d);
      await assertDropped(topo, sameNet, d, "another address of the scanner's /24");
      await assertServed(topo, nextNet, d, "the next /24");
      await assertServed(topo, ADDR.otherV4, d, "an unrelated source");

      await waitListed(d.instance, "198.18.7.0/24");
      await d.waitForLine(/blocking 198\.18\.7\.0\/24/, 10_000);
      await sleep(SETTLE_MS);
      assert.deepEqual((await d.instance.list()).map((e) => e.prefix), ["198.18.7.0/24"], `the /24 is listed once\n${d.tail()}`);
    });

    void test("ipv4_prefix = 24 never swallows the host's own /24: a scanner next to it is banned alone", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      // The scanner's /24 (192.0.2.0/24) holds the host's own 192.0.2.1 (allow_self).
      const d = await startDaemon(t, topo.host, { ...base, ipv4_prefix: 24 });

      await assertTrapHit(topo, ADDR.scannerV4, 23, d);
      await waitDropped(topo, ADDR.scannerV4, d);
      await waitListed(d.instance, "192.0.2.2/32");
      await sleep(SETTLE_MS);
      const nft = await topo.execHost(["nft", "list", "table", "inet", "iblock"]);
      await assertServed(topo, ADDR.otherV4, d, `a neighbour in the host's /24, not banned\n--- nft ---\n${nft.stdout}`);
      await assertDropped(topo, ADDR.scannerV4, d, "the scanner, a moment later");
      assert.deepEqual((await d.instance.list()).map((e) => e.prefix), ["192.0.2.2/32"], `only the address is listed\n${d.tail()}`);
    });
  });
}
