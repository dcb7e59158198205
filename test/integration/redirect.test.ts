// Redirect mode (listen = "redirect"): iblock binds only listen_port and the
// firewall redirects the trap ports to it (the Linux twin of PF's rdr-to).
// A scanner touching a trap port is dropped afterwards, IPv4 and IPv6, with the
// kernel route and, to prove the redirected listener on its own, without it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, blockingRe, blockingRe64, linesMatching, waitDropped, waitListed, assertTrapHit } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, type Topology } from "../support/netns.js";

const LISTEN_PORT = 2507;

/** TCP ports something listens on in the host namespace. */
async function listeningPorts(topo: Topology): Promise<Set<number>> {
  const r = await topo.execHost(["ss", "-Hltn"]);
  const ports = new Set<number>();
  for (const line of r.stdout.split("\n")) {
    const local = line.trim().split(/\s+/)[3];
    const port = local?.slice(local.lastIndexOf(":") + 1);
    if (port && /^\d+$/.test(port)) ports.add(Number(port));
  }
  return ports;
}

/** The recorded trap port is the one the scanner connected to, or unknown (null). */
function assertTrapPort(port: unknown, expected: number, what: string): void {
  if (port !== null) assert.equal(port, expected, `recorded trap port: ${what}`);
}

for (const kernelRoute of [true, false]) {
  const config: IblockConfig = kernelRoute ? { listen: "redirect" } : { listen: "redirect", kernel_route: false };
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";

  void describe(`redirect mode, ${route}`, () => {
    void test("only listen_port is bound; IPv4 and IPv6 scanners are dropped, other sources are not", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, config);

      const ports = await listeningPorts(topo);
      assert.ok(ports.has(LISTEN_PORT), `something listens on ${LISTEN_PORT}: ${[...ports].join(", ")}`);
      for (const trap of [21, 23, 445, 3389]) {
        assert.ok(!ports.has(trap), `no socket bound on trap port ${trap} in redirect mode`);
      }

      // IPv4
      await assertServed(topo, ADDR.scannerV4, d, "before any trap");
      await assertTrapHit(topo, ADDR.scannerV4, 23, d);
      if (kernelRoute) await assertDropped(topo, ADDR.scannerV4, d, "right after the trap connect");
      else await waitDropped(topo, ADDR.scannerV4, d);
      await assertServed(topo, ADDR.otherV4, d, "an innocent source");
      // A redirected listener sees listen_port, not the trap port: it may leave the
      // port out of the log line, but never names listen_port.
      await d.waitForLine(/blocking 192\.0\.2\.2(\/32)?( \(port 23\))?$/, 10_000);
      const v4 = await waitListed(d.instance, "192.0.2.2/32");
      assertTrapPort(v4.port, 23, JSON.stringify(v4));

      // IPv6, on another trap port
      await assertServed(topo, ADDR.scannerV6, d, "before any trap");
      await assertTrapHit(topo, ADDR.scannerV6, 3389, d);
      if (kernelRoute) await assertDropped(topo, ADDR.scannerV6, d, "right after the trap connect");
      else await waitDropped(topo, ADDR.scannerV6, d);
      await assertDropped(topo, ADDR.scannerV6Sibling, d, "another address of the scanner's /64");
      await assertServed(topo, ADDR.otherV6, d, "a source in another /64");
      const re6 = blockingRe64(ADDR.scannerV6, "2001:db8:0:1::");
      assert.match(await d.waitForLine(re6, 10_000), /\/64( \(port 3389\))?$/, "the log line names the trap port or none");
      const v6 = await waitListed(d.instance, "2001:db8:0:1::/64");
      assertTrapPort(v6.port, 3389, JSON.stringify(v6));

      assert.equal(linesMatching(d, blockingRe(ADDR.scannerV4)).length, 1, `banned once\n${d.tail()}`);
      assert.equal(linesMatching(d, re6).length, 1, `banned once\n${d.tail()}`);
      assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);
    });
  });
}
