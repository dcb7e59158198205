// What bans while the daemon is down (stopped or killed with -9), per route, for the
// docs' claim: the nftables kernel route goes on in the kernel (the table
// outlives the daemon); the listener route without socket activation has no
// listener, so the kernel refuses the connection and nothing is banned. (With
// socket activation the connection waits: socket-activation.test.ts.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, waitListed } from "../support/checks.js";
import { createInstance, type Daemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

test("kernel route: a scanner that comes while the daemon is stopped, or was killed, is banned by the kernel, and recorded at the next start", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  const downs = [
    { how: "stopped", scanner: ADDR.scannerV4, down: async (d: Daemon) => assert.deepEqual(await d.stop(), { code: 0, signal: null }) },
    { how: "killed", scanner: ADDR.otherV4, down: async (d: Daemon) => assert.equal((await d.kill9()).signal, "SIGKILL") },
  ];
  for (const { how, scanner, down } of downs) {
    await down(await inst.start());
    assert.equal(await topo.probe({ src: scanner, dst: ADDR.hostV4, port: 445, timeoutMs: 2000 }), "connected", how);
    await assertDropped(topo, scanner, undefined, `banned by the kernel, the daemon ${how}`);
    const next = await inst.start();
    const entry = await waitListed(inst, `${scanner}/32`, 10_000);
    assert.equal(entry.port, 445, how);
    assert.deepEqual(await next.stop(), { code: 0, signal: null });
  }
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
