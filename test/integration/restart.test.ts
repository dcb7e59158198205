// Persistence: the store is the source of truth. After kill -9 and a deleted
// nftables table (a reboot, a `nft flush ruleset`), a new daemon on the same
// state puts every earlier ban back at start.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, waitDropped, waitListed, assertTrapHit } from "../support/checks.js";
import { createInstance, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { deleteTable, tableExists } from "../support/nft.js";

for (const kernelRoute of [true, false]) {
  const config: IblockConfig = kernelRoute ? {} : { kernel_route: false };
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";

  void test(`restart after kill -9 and a deleted table still drops earlier scanners, ${route}`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t);
    const inst = await createInstance(t, topo.host, config);
    const first = await inst.start();

    for (const src of [ADDR.scannerV4, ADDR.scannerV6]) {
      await assertTrapHit(topo, src, 445, first);
      await waitDropped(topo, src, first);
    }
    // Recorded in the store (list reads it through the daemon) before the crash.
    await waitListed(inst, "192.0.2.2/32");
    await waitListed(inst, "2001:db8:0:1::/64");

    const killed = await first.kill9();
    assert.equal(killed.signal, "SIGKILL");
    await deleteTable(topo.host);
    assert.equal(await tableExists(topo.host), false);
    // Without the table nothing is dropped: the test below can only pass by a restore.
    await assertServed(topo, ADDR.scannerV4, first, "table deleted, daemon dead");
    await assertServed(topo, ADDR.scannerV6, first, "table deleted, daemon dead");

    const second = await inst.start();
    assert.equal(await tableExists(topo.host), true, "the restarted daemon re-creates its table");
    await assertDropped(topo, ADDR.scannerV4, second, "ban restored from the store");
    await assertDropped(topo, ADDR.scannerV6, second, "ban restored from the store");
    await assertDropped(topo, ADDR.scannerV6Sibling, second, "the restored ban is the /64");
    await assertServed(topo, ADDR.otherV4, second);
    await assertServed(topo, ADDR.otherV6, second);

    // The restarted daemon still bans new scanners.
    await assertTrapHit(topo, ADDR.otherV4, 21, second);
    await waitDropped(topo, ADDR.otherV4, second);
    await waitListed(inst, "192.0.2.3/32");

    const entries = await inst.list();
    for (const prefix of ["192.0.2.2/32", "2001:db8:0:1::/64", "192.0.2.3/32"]) {
      assert.equal(entries.filter((e) => e.prefix === prefix).length, 1, `${prefix} listed once: ${JSON.stringify(entries)}`);
    }
    assert.deepEqual(await second.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${second.tail()}`);
  });
}
