// listen = "redirect" with the kernel route (issue 10, bug 3): the listener
// only sees listen_port, the kernel route's report carries the trap port (its
// chain runs before NAT). Joined, the ban, its log line and its hits have the port.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

void test("redirect mode records and logs the trap port the scanner connected to", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { listen: "redirect" });
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await d.waitForLine(/blocking 192\.0\.2\.2 \(port 23\)$/, 10_000);
  const entry = await waitListed(d.instance, "192.0.2.2/32");
  assert.equal(entry.port, 23, JSON.stringify(entry));
  const show = JSON.parse((await d.instance.cli("show", ["--json", ADDR.scannerV4])).stdout) as {
    prefixes: { hits: number; ports: { port: number; hits: number }[] }[];
  };
  const p = show.prefixes[0];
  assert.deepEqual(p?.ports, [{ port: 23, hits: p?.hits }], `every hit has its port: ${JSON.stringify(p)}\n${d.tail()}`);
  const stats = await d.instance.cli("stats", []);
  assert.match(stats.stdout, /^top trap ports \(24 h\): 23 \(\d+\)$/m);
});
