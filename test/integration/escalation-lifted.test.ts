// Repeat offences (issue 10, bug 8): a ban an admin lifted with `unban` does
// not make the source's next ban longer; only a ban that ran its course does.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertTrapHit, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { banLengthMs } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";

const H = 3_600_000;

void test("after an unban, the next trap hit gets a first offence's ban, not a doubled one", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { ban_time: "1h", repeat_multiplier: 2 });
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  const first = await waitListed(d.instance, "192.0.2.2/32");
  assert.ok(Math.abs(banLengthMs(first) - H) < 60_000, JSON.stringify(first));

  assert.equal((await d.instance.cli("unban", [ADDR.scannerV4])).code, 0);
  await waitServed(topo, ADDR.scannerV4, d);
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  const second = await waitListed(d.instance, "192.0.2.2/32");
  assert.ok(Math.abs(banLengthMs(second) - H) < 60_000, `still 1 h, not 2 h: ${JSON.stringify(second)}\n${d.tail()}`);
});
