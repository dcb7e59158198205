// The daemon with the PF backend (fake pfctl behind a fake doas -n, whose argv
// is pinned): a trap hit becomes `pfctl -t T -T add`, the ban expires through
// `-T delete` (PF has no timeouts of its own), and a pfctl that fails during a
// SIGHUP neither poisons the next SIGHUP nor the stop.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertTrapHit } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { fakePf } from "../support/fake-pf.js";
import { logMark, signalDaemon } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

test("pf daemon: add on a trap hit, delete at expiry, a failed SIGHUP does not stick", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const pf = fakePf();
  const d = await startDaemon(t, topo.host, {
    firewall: "pf",
    table: "blocked_tcp",
    pfctl: pf.pfctl,
    command_prefix: [pf.doas, "-n"],
    trap_ports: [2323],
    ban_time: "2s",
  });
  const pfctl = (): string[][] => pf.calls().filter((c) => c[0] === "pfctl");
  assert.deepEqual(pfctl()[0], ["pfctl", "-t", "blocked_tcp", "-T", "show"], "setup reads the table");

  await assertTrapHit(topo, ADDR.scannerV4, 2323, d);
  await d.waitForLine(/blocking 192\.0\.2\.2 \(port 2323\)/, 5000);
  await waitUntil(() => pfctl().some((c) => c.join(" ") === "pfctl -k 192.0.2.2"), { timeoutMs: 15_000, what: "pfctl -k" });
  assert.ok(pfctl().some((c) => c.join(" ") === "pfctl -t blocked_tcp -T add -f -"), JSON.stringify(pfctl()));
  assert.ok(pf.inputs().includes("192.0.2.2\n"), JSON.stringify(pf.inputs()));
  // every pfctl call went through doas -n
  assert.ok(pf.calls().filter((c) => c[0] === "doas").every((c) => c[1] === "-n" && c[2] === pf.pfctl));

  await d.waitForLine(/unblocking 192\.0\.2\.2 \(expired\)/, 6000);
  assert.ok(pfctl().some((c) => c.join(" ") === "pfctl -t blocked_tcp -T delete -f -"), JSON.stringify(pfctl()));
  assert.equal(pf.inputs().at(-1), "192.0.2.2\n");

  let from = logMark(d);
  pf.failNext(100);
  signalDaemon(d, "SIGHUP");
  await d.waitForLine(/SIGHUP: could not apply the new config|SIGHUP: .*Device busy/, 10_000, from);
  pf.failNext(0);
  from = logMark(d);
  signalDaemon(d, "SIGHUP");
  await d.waitForLine(/SIGHUP: config reloaded/, 10_000, from);
  const t0 = Date.now();
  assert.deepEqual(await d.stop(10_000), { code: 0, signal: null }, d.tail());
  assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
});
