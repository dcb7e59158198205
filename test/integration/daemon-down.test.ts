// What bans while the daemon is down (stopped or killed), per route, for the
// docs' claim: the nftables kernel route goes on in the kernel (the table
// outlives the daemon); the listener route without socket activation has no
// listener, so the kernel refuses the connection and nothing is banned. (With
// socket activation the connection waits: socket-activation.test.ts.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, waitListed } from "../support/checks.js";
import { createInstance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

test("kernel route: a scanner that comes while the daemon is stopped is banned by the kernel, and recorded at the next start", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  const first = await inst.start();
  assert.deepEqual(await first.stop(), { code: 0, signal: null });
  assert.equal(await topo.probe({ src: ADDR.scannerV4, dst: ADDR.hostV4, port: 445, timeoutMs: 2000 }), "connected");
  await assertDropped(topo, ADDR.scannerV4, undefined, "banned by the kernel, no daemon running");
  await inst.start();
  const entry = await waitListed(inst, "192.0.2.2/32", 10_000);
  assert.equal(entry.port, 445);
});

test("listener route without socket activation: while the daemon is stopped the trap port refuses, and nothing is banned", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { kernel_route: false });
  const first = await inst.start();
  assert.deepEqual(await first.stop(), { code: 0, signal: null });
  assert.equal(await topo.probe({ src: ADDR.scannerV4, dst: ADDR.hostV4, port: 445, timeoutMs: 2000 }), "refused");
  await assertServed(topo, ADDR.scannerV4, undefined, "nothing judged it");
});
