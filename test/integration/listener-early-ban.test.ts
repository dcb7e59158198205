// The listener route puts a first ban in the firewall before the store records
// it (src/bans/early-ban.ts). Recorded as the trap hit it was when nothing goes
// wrong; after kill -9 between the two, the next daemon's start scan adopts it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { createInstance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Holds } from "../support/hold.js";
import { ADDR, createTopology } from "../support/netns.js";

test("listener route: an early ban is recorded with its port and source, not as adopted", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { kernel_route: false, listen: "direct" });
  const d = await inst.start();
  await assertTrapHit(topo, ADDR.scannerV4, 445, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await waitListed(inst, "192.0.2.2/32");
  const entry = (await inst.list()).find((e) => e.prefix === "192.0.2.2/32");
  assert.equal(entry?.source, "trap", JSON.stringify(entry));
  assert.equal(entry?.port, 445, JSON.stringify(entry));
  await d.waitForLine(/blocking 192\.0\.2\.2 \(port 445\)/);
});

test("listener route: kill -9 after the early ban and before the store records it loses nothing", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { kernel_route: false });
  const holds = new Holds(inst, ["record-hits"]);
  const first = await inst.start();
  await assertTrapHit(topo, ADDR.scannerV4, 23, first);
  // In the firewall, while the store is held from recording it.
  await waitDropped(topo, ADDR.scannerV4, first);
  assert.equal(first.lines.some((l) => /blocking 192\.0\.2\.2/.test(l)), false, "not recorded yet: no line");
  await first.kill9();

  holds.release("record-hits");
  const second = await inst.start();
  await second.waitForLine(/scanned the firewall \(start\): .* 1 adopted/, 20_000);
  await assertDropped(topo, ADDR.scannerV4, second, "adopted at start");
  const entry = (await inst.list()).find((e) => e.prefix === "192.0.2.2/32");
  assert.equal(entry?.source, "adopted", JSON.stringify(entry));
  assert.deepEqual(await second.stop(), { code: 0, signal: null });
});
