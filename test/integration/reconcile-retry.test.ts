// Reconcile until it succeeds (issue 9, point 5). With nft broken (a wrapper
// first on the daemon's PATH fails every nft process, and the running session
// is killed), an unban's removal and the repair of a deleted table fail; they
// are retried with backoff, "cannot check" is never taken for "in place", and
// once nft works again both happen without anyone asking.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BrokenNft } from "../support/broken-nft.js";
import { assertDropped, assertServed, waitDropped, waitServed } from "../support/checks.js";
import { createInstance, EX } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { logMark } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";
import { deleteTable, tableExists } from "../support/nft.js";

test("with nft failing, an unban's removal and a deleted table's repair are retried until nft works again", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const nft = await BrokenNft.create(t);
  const inst = await createInstance(t, topo.host, { reconcile_interval: "2s" });
  inst.extraEnv = { PATH: nft.path };
  const d = await inst.start();

  // An unban whose removal fails: the address stays dropped until nft works, then is served.
  assert.equal((await inst.cli("ban", [ADDR.scannerV4])).code, EX.OK, d.tail());
  await assertDropped(topo, ADDR.scannerV4, d, "banned");
  await nft.break(topo.host);
  let from = logMark(d);
  assert.equal((await inst.cli("unban", [ADDR.scannerV4])).code, EX.OK, d.tail());
  await d.waitForLine(/removing 192\.0\.2\.2: .*retrying/, 15_000, from);
  // The retry's own failure, whenever its backoff lets it come.
  await d.waitForLine(/firewall refused to remove 1 ended ban/, 30_000, from);
  await assertDropped(topo, ADDR.scannerV4, d, "the removal failed: still in the set");
  await nft.heal();
  await waitServed(topo, ADDR.scannerV4, d, 15_000);

  // A table deleted while nft cannot run: the check cannot tell, and says so, until it can.
  assert.equal((await inst.cli("ban", [ADDR.otherV4])).code, EX.OK, d.tail());
  await assertDropped(topo, ADDR.otherV4, d, "banned");
  await nft.break(topo.host);
  await deleteTable(topo.host); // the test's own nft, not the broken one
  from = logMark(d);
  const failedCheck = /could not check the firewall \((timer|retry)\), retrying/;
  const firstFailed = await d.waitForLine(failedCheck, 30_000, from);
  // A later round that also could not check: nothing in between took "cannot check" for "in place".
  await d.waitForLine(failedCheck, 30_000, d.lines.indexOf(firstFailed, from) + 1);
  assert.equal(await tableExists(topo.host), false, "nothing can repair it while nft fails");
  assert.ok(!d.lines.slice(from).some((l) => /in place, nothing to repair/.test(l)), `"cannot check" is not "in place"\n${d.tail()}`);
  await nft.heal();
  // By the retry or by the timer's next check, whichever comes first once nft works.
  await d.waitForLine(/repaired the firewall \((retry|timer)\): rules and sets recreated, 1 ban\(s\) put back/, 30_000, from);
  await waitDropped(topo, ADDR.otherV4, d);
  await assertServed(topo, ADDR.scannerV4, d, "the unbanned address stays served");
  assert.ok(d.running, d.tail());
});
