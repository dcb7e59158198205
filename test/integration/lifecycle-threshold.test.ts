// Threshold: with threshold = 3 a source is banned on its third trap hit within
// threshold_window, not before, and hits are counted per source. The hits go
// to distinct trap ports: the kernel route counts one hit per (source, port)
// per 30 s. Run with the kernel route (it only reports hits, the daemon
// decides) and without it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, linesMatching, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

// Longer than the daemon's drain of the kernel's hits (every 100 ms in its first minute) and its batching.
const SETTLE_MS = 1200;
const PORTS = [21, 23, 445] as const;

for (const kernelRoute of [true, false]) {
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";
  const config: IblockConfig = { threshold: 3, threshold_window: "1h", ...(kernelRoute ? {} : { kernel_route: false }) };

  void describe(`threshold = 3, ${route}`, () => {
    for (const [family, scanner, bystander, prefix] of [
      ["IPv4", ADDR.scannerV4, ADDR.otherV4, "192.0.2.2/32"],
      ["IPv6", ADDR.scannerV6, ADDR.otherV6, "2001:db8:0:1::/64"],
    ] as const) {
      void test(`${family}: two trap hits leave a source served, the third bans it`, async (t) => {
        if (!requireRoot(t)) return;
        const topo = await createTopology(t);
        const d = await startDaemon(t, topo.host, config);

        // Two hits each from the scanner and a bystander: below the threshold.
        for (const port of PORTS.slice(0, 2)) {
          await assertTrapHit(topo, scanner, port, d);
          await assertTrapHit(topo, bystander, port, d);
        }
        await sleep(SETTLE_MS);
        await assertServed(topo, scanner, d, "after two trap hits");
        await assertServed(topo, bystander, d, "after two trap hits");
        assert.deepEqual(await d.instance.list(), [], `nothing listed below the threshold\n${d.tail()}`);
        assert.equal(linesMatching(d, /\bblocking /).length, 0, `no "blocking" line below the threshold\n${d.tail()}`);

        // The third hit, from the scanner only.
        await assertTrapHit(topo, scanner, PORTS[2], d);
        await waitDropped(topo, scanner, d);
        const entry = await waitListed(d.instance, prefix);
        assert.equal(entry.hits, 3, `the ban counts the three hits that made it, each once: ${JSON.stringify(entry)}`);

        // The bystander's two hits are its own, not added to the scanner's.
        await sleep(SETTLE_MS);
        await assertServed(topo, bystander, d, "two hits of its own, below the threshold");
        await assertDropped(topo, scanner, d, "a moment after the third hit");
        assert.deepEqual(
          (await d.instance.list()).map((e) => e.prefix),
          [prefix],
          `only the scanner is listed\n${d.tail()}`,
        );
      });
    }
  });
}
