// A reload that cannot be applied (the new redirect port is taken by a local
// service) goes back to the old config whole: the old redirect port still traps.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertServed, assertTrapHit, waitDropped } from "../support/checks.js";
import { createInstance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { reload } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";

const TAKEN = `require("node:net").createServer((s) => s.end()).listen(2600, "0.0.0.0", () => console.log("listening"));`;

test("SIGHUP to a redirect port in use rolls back to the old config, which goes on trapping", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const taken = topo.spawnNode(topo.host, TAKEN);
  t.after(() => taken.stop("SIGTERM", 5000));
  await taken.waitForLine(/listening/, 5000);
  const inst = await createInstance(t, topo.host, { listen: "redirect", kernel_route: false });
  const d = await inst.start();

  await inst.writeConfig({ listen: "redirect", kernel_route: false, listen_port: 2600 });
  const answer = await reload(d);
  assert.match(answer, /could not apply the new config, going back to the old one: .*listen_port 2600 is in use/);

  // Still redirecting to 2507, where the daemon still listens: the listener bans.
  const nat = await topo.execHost(["nft", "list", "chain", "inet", "iblock", "trap_redirect"]);
  assert.match(nat.stdout, /redirect to :2507/);
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await assertServed(topo, ADDR.otherV4, d);
});
