// A service installed after iblock, on a trap port (a database next week on
// 3306), can start and keeps its clients from the first one: with the default
// listen mode on nftables iblock holds no trap port, and the firewall leaves a
// port a socket listens on to it; the daemon then takes the port out of the
// traps, so a client that comes while the service restarts is not banned
// either. Once the service has been gone trap_again_after (here shortened by a
// reload, which keeps how long it has been gone), the port is a trap again.
// With the kernel route, without it, and with catch_syn_scans (bare SYN bans).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, blockingRe, linesMatching, waitDropped } from "../support/checks.js";
import { createInstance, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { reload } from "../support/lifecycle.js";
import { ADDR, createTopology, type Topology } from "../support/netns.js";

const PORT = 3306;
const SERVICE = String.raw`
const srv = require("node:net").createServer((s) => { s.on("error", () => {}); s.end("ok\n"); });
srv.on("error", (e) => { console.error("service: " + e.message); process.exit(1); });
srv.listen({ host: "::", port: Number(process.argv[1]), ipv6Only: false }, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

async function traps(topo: Topology): Promise<number[]> {
  const r = await topo.execHost(["nft", "-j", "list", "set", "inet", "iblock", "traps"]);
  const json = JSON.parse(r.stdout) as { nftables: { set?: { elem?: (number | { range: number[] })[] } }[] };
  return json.nftables.flatMap((o) => o.set?.elem ?? []).flatMap((e) => (typeof e === "number" ? [e] : []));
}

for (const [route, base] of [
  ["kernel route (default)", {}],
  ["listener only (kernel_route = false)", { kernel_route: false }],
  ["kernel route with catch_syn_scans", { catch_syn_scans: true }],
] as [string, IblockConfig][]) {
  void describe(`a service that starts later on a trap port, ${route}`, () => {
    void test("binds it, its clients are served and never banned, also while it restarts; gone long enough, the port is a trap again", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const inst = await createInstance(t, topo.host, base);
      const d = await inst.start();
      assert.match(d.lines.join("\n"), /listen redirect/, "the default listen mode on nftables");

      const svc = topo.spawnNode(topo.host, SERVICE, [String(PORT)]);
      await svc.waitForLine(/^listening$/, 10_000);
      // Whether or not the daemon has looked yet: the firewall itself leaves the port to its service.
      for (const src of [ADDR.otherV4, ADDR.otherV6]) {
        const r = await topo.probe({ src, dst: src.includes(":") ? ADDR.hostV6 : ADDR.hostV4, port: PORT, timeoutMs: 2000 });
        assert.equal(r, "connected", `${src} reaches the new service\n${d.tail()}`);
      }
      await d.waitForLine(new RegExp(`port ${PORT} is now served by node \\(pid \\d+\\): no longer a trap`), 10_000);
      assert.ok(!(await traps(topo)).includes(PORT), "the port is out of the traps set");
      await assertServed(topo, ADDR.otherV4, d, "a client of the new service");
      await assertServed(topo, ADDR.otherV6, d, "a client of the new service");

      // Stopped (a restart, an upgrade): a client that comes meanwhile is refused, not banned.
      await svc.stop("SIGTERM", 5000);
      await d.waitForLine(new RegExp(`port ${PORT} is no longer served by node \\(pid \\d+\\): a trap again in 1h unless it comes back`), 10_000);
      assert.equal(await topo.probe({ src: ADDR.otherV4, dst: ADDR.hostV4, port: PORT, timeoutMs: 2000 }), "refused", "nothing listens, nothing traps");
      await assertServed(topo, ADDR.otherV4, d, "a client that came while the service was down");
      assert.equal(linesMatching(d, /blocking/).length, 0, d.tail());
      assert.deepEqual(await inst.list(), [], "nobody banned");

      // Gone for good: a reload shortens the wait, which still counts from when it left.
      await inst.writeConfig({ ...base, trap_again_after: "1s" });
      assert.match(await reload(d), /config reloaded/, d.tail());
      await d.waitForLine(new RegExp(`port ${PORT} is a trap again`), 10_000);
      assert.ok((await traps(topo)).includes(PORT), "the port is back in the traps set");
      await topo.hitTrap(ADDR.scannerV4, PORT);
      if (base.kernel_route === false) await waitDropped(topo, ADDR.scannerV4, d);
      else await assertDropped(topo, ADDR.scannerV4, d, "a scanner on the port once it is a trap again");
      await d.waitForLine(blockingRe(ADDR.scannerV4), 5000);
    });
  });
}
