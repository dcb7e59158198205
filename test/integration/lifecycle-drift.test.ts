// Drift repair: with reconcile_interval = "1s", whatever happens to the
// daemon's nftables table under it (the table deleted, a chain deleted, a ban
// set flushed, as `nft flush ruleset` or a careless admin would), the stored
// bans are back in the kernel within a few seconds, the log says "repaired the
// firewall", and the daemon keeps running and banning.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon, type Daemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { logMark } from "../support/lifecycle.js";
import { ADDR, createTopology, type Topology } from "../support/netns.js";
import { tableExists } from "../support/nft.js";

// Within a few reconcile intervals (1 s here), each of which may find nft or this machine
// busy: far below the 60 s an unrepaired drift would wait for with the default interval.
const REPAIR_MS = 20_000;

interface Drift {
  what: string;
  /** nft arguments run in the host namespace under the running daemon. */
  nft: string[];
  /** The sources this drift leaves undropped until the repair. */
  lost: readonly string[];
}

// The default `table` is "iblocked": its keyed ban sets are iblocked_v4 and iblocked_v6.
const DRIFTS: Drift[] = [
  { what: "the table deleted", nft: ["delete", "table", "inet", "iblock"], lost: [ADDR.scannerV4, ADDR.scannerV6] },
  { what: "the drop chain deleted", nft: ["delete", "chain", "inet", "iblock", "drop_banned"], lost: [ADDR.scannerV4, ADDR.scannerV6] },
  { what: "the IPv4 ban set flushed", nft: ["flush", "set", "inet", "iblock", "iblocked_v4"], lost: [ADDR.scannerV4] },
  { what: "the IPv6 ban set flushed", nft: ["flush", "set", "inet", "iblock", "iblocked_v6"], lost: [ADDR.scannerV6] },
];

async function banScanners(topo: Topology, d: Daemon): Promise<void> {
  for (const src of [ADDR.scannerV4, ADDR.scannerV6]) {
    await assertTrapHit(topo, src, 23, d);
    await waitDropped(topo, src, d);
  }
  await waitListed(d.instance, "192.0.2.2/32");
  await waitListed(d.instance, "2001:db8:0:1::/64");
}

for (const drift of DRIFTS) {
  void test(`${drift.what} under a running daemon is repaired within reconcile_interval`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t);
    const d = await startDaemon(t, topo.host, { reconcile_interval: "1s" });
    await banScanners(topo, d);

    const from = logMark(d);
    const before = Date.now();
    await topo.execHost(["nft", ...drift.nft]);
    // (Each of these drifts leaves the sources in `lost` served while nothing repairs
    // it: with reconcile_interval = "60s" every case here fails at the next line.)
    for (const src of drift.lost) await waitDropped(topo, src, d, REPAIR_MS);
    const took = Date.now() - before;
    await d.waitForLine(/repaired the firewall/, 10_000, from);
    await assertDropped(topo, ADDR.scannerV6Sibling, d, "the restored IPv6 ban is still the /64");
    await assertServed(topo, ADDR.otherV4, d, "an innocent source after the repair");
    await assertServed(topo, ADDR.otherV6, d, "an innocent source after the repair, IPv6");
    assert.equal(await tableExists(topo.host), true);

    // The repaired firewall bans new scanners too, at once (the kernel route's rules are back).
    await assertTrapHit(topo, ADDR.otherV4, 445, d);
    await assertDropped(topo, ADDR.otherV4, d, "a new scanner after the repair");
    await waitListed(d.instance, "192.0.2.3/32");
    assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
    t.diagnostic(`repaired in ${took} ms`);
    assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);
  });
}
