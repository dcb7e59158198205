// The later C iblock's command line, `iblock -t TABLE -p PORT`: the daemon in
// redirect mode on PORT with table TABLE (what OpenBSD rc.d users set as iblock_flags).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertServed, assertTrapHit, waitDropped } from "../support/checks.js";
import { CLI_JS, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

test("iblock -t TABLE -p PORT runs the daemon in redirect mode with that table", async (t) => {
  if (!requireRoot(t)) return;
  requireBuild();
  const topo = await createTopology(t);
  const state = await tempDir(t);
  const env: NodeJS.ProcessEnv = { ...process.env, IBLOCK_STATE_DIR: state };
  delete env.IBLOCK_CONFIG;
  const d = topo.spawn(topo.host, [process.execPath, CLI_JS, "-t", "blocked_tcp", "-p", "2600", "-c", "/dev/null"], { env });
  t.after(() => d.stop("SIGTERM", 5000));
  await d.waitForLine(/ready \(.*listen redirect on 2600/, 20_000);

  // The kernel route answers the trap ports itself: nothing is redirected, the listener holds 2600.
  const listening = await topo.execHost(["ss", "-Hltn", "sport", "= :2600"]);
  assert.match(listening.stdout, /:2600\b/);
  const chains = await topo.execHost(["nft", "list", "chains", "inet"]);
  assert.match(chains.stdout, /chain trap_answer/);
  assert.doesNotMatch(chains.stdout, /chain trap_redirect/);
  await assertTrapHit(topo, ADDR.scannerV4, 3389);
  await waitDropped(topo, ADDR.scannerV4);
  await assertServed(topo, ADDR.otherV4);
  const set = await topo.execHost(["nft", "list", "set", "inet", "iblock", "blocked_tcp_v4"]);
  assert.match(set.stdout, /192\.0\.2\.2/);
  assert.deepEqual(await d.stop("SIGTERM", 10_000), { code: 0, signal: null });
});
