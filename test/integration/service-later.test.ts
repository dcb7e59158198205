// A service installed after iblock, on a trap port (a database next week on
// 3306), can start and keeps its clients from the first one: with the default
// listen mode on nftables iblock holds no trap port, and the firewall leaves a
// port a socket listens on to it; the daemon then takes the port out of the
// traps. One log line each way; once the service has been gone
// trap_again_after (1 s here; the grace itself is unit-tested with a fake
// clock), the port is a trap again. With the kernel route and without it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, blockingRe, linesMatching, waitDropped } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

const PORT = 3306;
const SERVICE = String.raw`
const srv = require("node:net").createServer((s) => { s.on("error", () => {}); s.end("ok\n"); });
srv.on("error", (e) => { console.error("service: " + e.message); process.exit(1); });
srv.listen({ host: "::", port: Number(process.argv[1]), ipv6Only: false }, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

for (const [route, config] of [
  ["kernel route (default)", { trap_again_after: "1s" }],
  ["listener only (kernel_route = false)", { kernel_route: false, trap_again_after: "1s" }],
] as [string, IblockConfig][]) {
  void describe(`a service that starts later on a trap port, ${route}`, () => {
    void test("binds it, its clients are served and never banned; when it stops the port is a trap again", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, config);
      assert.match(d.lines.join("\n"), /listen redirect/, "the default listen mode on nftables");

      const svc = topo.spawnNode(topo.host, SERVICE, [String(PORT)]);
      await svc.waitForLine(/^listening$/, 10_000);
      // At once, before the daemon has looked: the firewall itself leaves the port to its service.
      for (const src of [ADDR.otherV4, ADDR.otherV6]) {
        const r = await topo.probe({ src, dst: src.includes(":") ? ADDR.hostV6 : ADDR.hostV4, port: PORT, timeoutMs: 2000 });
        assert.equal(r, "connected", `${src} reaches the new service\n${d.tail()}`);
      }
      await d.waitForLine(new RegExp(`port ${PORT} is now served by node \\(pid \\d+\\): no longer a trap`), 10_000);
      await assertServed(topo, ADDR.otherV4, d, "a client of the new service");
      await assertServed(topo, ADDR.otherV6, d, "a client of the new service");
      assert.equal(linesMatching(d, /blocking/).length, 0, d.tail());
      assert.deepEqual(await d.instance.list(), [], "nobody banned");

      // Gone: still no trap until trap_again_after has passed (a restart is not a departure).
      await svc.stop("SIGTERM", 5000);
      await d.waitForLine(new RegExp(`port ${PORT} is no longer served by node \\(pid \\d+\\): a trap again in 1s unless it comes back`), 10_000);
      await d.waitForLine(new RegExp(`port ${PORT} is a trap again`), 10_000);
      await topo.hitTrap(ADDR.scannerV4, PORT);
      if (config.kernel_route === false) await waitDropped(topo, ADDR.scannerV4, d);
      else await assertDropped(topo, ADDR.scannerV4, d, "a scanner on the port once it is a trap again");
      await d.waitForLine(blockingRe(ADDR.scannerV4), 5000);
    });
  });
}
