// Direct mode (iblock binds every trap port): a scanner that completes a
// handshake with a trap port gets no answer from the host's real service
// afterwards, over IPv4 and IPv6, while another source still gets through.
// Run with the kernel route (the default on nftables) and without it, so the
// userland listener's path is proven on its own.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  assertDropped,
  assertServed,
  blockingRe,
  blockingRe64,
  linesMatching,
  waitDropped,
  waitListed,
  assertTrapHit,
} from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

for (const kernelRoute of [true, false]) {
  const config: IblockConfig = kernelRoute ? { listen: "direct" } : { listen: "direct", kernel_route: false };
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";

  void describe(`direct mode, ${route}`, () => {
    void test("an IPv4 scanner is dropped after touching a trap port; another source is not", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, config);

      await assertServed(topo, ADDR.scannerV4, d, "before any trap");
      await assertTrapHit(topo, ADDR.scannerV4, 23, d);
      if (kernelRoute) {
        // The kernel bans on the handshake's last ACK: the very next connect is dropped.
        await assertDropped(topo, ADDR.scannerV4, d, "right after the trap connect");
      } else {
        await waitDropped(topo, ADDR.scannerV4, d);
      }
      await assertServed(topo, ADDR.otherV4, d, "an innocent source");
      await assertServed(topo, ADDR.otherV6, d, "an innocent source, IPv6");

      await d.waitForLine(/blocking 192\.0\.2\.2(\/32)? \(port 23\)/, 10_000);
      const entry = await waitListed(d.instance, "192.0.2.2/32");
      assert.equal(entry.port, 23, `stored trap port: ${JSON.stringify(entry)}`);
      assert.ok(!(await d.instance.list()).some((e) => e.prefix.startsWith("192.0.2.3")), "the other source is not listed");

      // Still dropped a moment later (the drain of the kernel's hits does not undo anything),
      // and banned, logged and recorded once even though two routes saw it.
      await sleep(1000);
      await assertDropped(topo, ADDR.scannerV4, d, "a second later");
      assert.equal(linesMatching(d, blockingRe(ADDR.scannerV4)).length, 1, `one "blocking" line${"\n"}${d.tail()}`);
      assert.equal((await d.instance.list()).filter((e) => e.prefix === "192.0.2.2/32").length, 1);

      assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);
    });

    void test("an IPv6 scanner is dropped as its /64; a source in another /64 is not", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, config);

      await assertServed(topo, ADDR.scannerV6, d, "before any trap");
      await assertTrapHit(topo, ADDR.scannerV6, 23, d);
      if (kernelRoute) {
        await assertDropped(topo, ADDR.scannerV6, d, "right after the trap connect");
      } else {
        await waitDropped(topo, ADDR.scannerV6, d);
      }
      await assertDropped(topo, ADDR.scannerV6Sibling, d, "another address of the scanner's /64");
      await assertServed(topo, ADDR.otherV6, d, "a source in another /64");
      await assertServed(topo, ADDR.otherV4, d, "an innocent IPv4 source");

      const re = blockingRe64(ADDR.scannerV6, "2001:db8:0:1::");
      await d.waitForLine(re, 10_000);
      const entry = await waitListed(d.instance, "2001:db8:0:1::/64");
      assert.equal(entry.port, 23, `stored trap port: ${JSON.stringify(entry)}`);

      await sleep(1000);
      await assertDropped(topo, ADDR.scannerV6, d, "a second later");
      assert.equal(linesMatching(d, re).length, 1, `one "blocking" line\n${d.tail()}`);
    });
  });
}
