// `iblock teardown`: the way to stop using iblock. Its table (and the
// permanent bans in it) outlives the daemon; teardown takes it away, refuses
// while a daemon runs (it would put the table back), and says what is left.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { EX_TEMPFAIL } from "../../src/errors.js";
import { teardown } from "../../src/setup/teardown.js";
import { assertDropped, assertServed } from "../support/checks.js";
import { tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { fakePf } from "../support/fake-pf.js";
import { ADDR, createTopology } from "../support/netns.js";
import { tableExists } from "../support/nft.js";
import { daemonWithTwoBans } from "../support/two-bans.js";

test("teardown: refused while the daemon runs; after it stopped, the table goes and a banned scanner's packets pass again", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const { inst, d } = await daemonWithTwoBans(t, topo, ["--time", "permanent"]);

  const refused = await inst.cli("teardown");
  assert.equal(refused.code, EX_TEMPFAIL, refused.stderr);
  assert.match(refused.stderr, /iblock is running \(pid \d+\) with state_dir .* would put its table back: stop it first/);
  assert.equal(await tableExists(topo.host), true, "nothing changed");
  await assertDropped(topo, ADDR.scannerV4, d, "still banned");

  assert.deepEqual(await d.stop(), { code: 0, signal: null });
  // A stopped daemon leaves its table: the ban holds on.
  await assertDropped(topo, ADDR.scannerV4, undefined, "the table outlives the daemon");
  const r = await inst.cli("teardown");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^removed the nftables table inet iblock/m);
  assert.match(r.stdout, new RegExp(`^  state_dir ${inst.stateDir}: the store, with 2 ban\\(s\\) in force`, "m"));
  assert.match(r.stdout, /iblock\.service and iblock\.socket/);
  assert.equal(await tableExists(topo.host), false);
  await assertServed(topo, ADDR.scannerV4, undefined, "banned before, passes after teardown");

  // Twice is no error: nothing left to remove.
  const again = await inst.cli("teardown");
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^no nftables table inet iblock: nothing to remove$/m);
});

test("teardown on PF: one pfctl flush of the configured table, through command_prefix", async (t) => {
  const f = fakePf();
  const dir = await tempDir(t);
  const config = validateConfig({ firewall: "pf", table: "blocked_tcp", pfctl: f.pfctl, command_prefix: [f.doas, "-n"], state_dir: dir }, "test");
  const out = await teardown(config);
  assert.deepEqual(f.calls(), [
    ["doas", "-n", f.pfctl, "-t", "blocked_tcp", "-T", "flush"],
    ["pfctl", "-t", "blocked_tcp", "-T", "flush"],
  ]);
  assert.match(out, /^flushed the PF table <blocked_tcp>/m);
  assert.match(out, /persist file \/etc\/iblock-blocked_tcp\.txt/);
});
