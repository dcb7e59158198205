// `iblock ban` / `unban` / `list` against a running daemon (through its control
// socket) and without one (directly on store and firewall): they change what
// is dropped, and a malformed address changes nothing and exits 65.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, waitDropped, waitListed, waitServed, assertTrapHit } from "../support/checks.js";
import { EX, startDaemon, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { bannedElements, tableExists } from "../support/nft.js";
import type { RunResult } from "../support/proc.js";

function assertExit(r: RunResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${String(r.code)}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

async function ok(inst: Instance, sub: string, args: readonly string[]): Promise<RunResult> {
  const r = await inst.cli(sub, args);
  assertExit(r, EX.OK, `iblock ${sub} ${args.join(" ")}`);
  return r;
}

async function firewallBans(ns: string): Promise<string[]> {
  return (await tableExists(ns)) ? [...(await bannedElements(ns))].sort() : ["(no table inet iblock)"];
}

const MALFORMED = ["203.0.113.9; reboot", "203.0.113.256", "2001:db8::g", "192.0.2.0/33", "$(reboot)"];

/** Every malformed address is refused by ban and unban with 65, and neither store nor firewall changes. */
async function assertMalformedRefused(inst: Instance): Promise<void> {
  const listBefore = JSON.stringify(await inst.list());
  const nftBefore = await firewallBans(inst.ns);
  for (const sub of ["ban", "unban"]) {
    for (const bad of MALFORMED) {
      const r = await inst.cli(sub, [bad]);
      assertExit(r, EX.DATAERR, `iblock ${sub} ${JSON.stringify(bad)}`);
      assert.ok(r.stderr.includes(bad), `the message names the value ${JSON.stringify(bad)}: ${r.stderr}`);
    }
  }
  assert.equal(JSON.stringify(await inst.list()), listBefore, "the store is unchanged");
  assert.deepEqual(await firewallBans(inst.ns), nftBefore, "the firewall is unchanged");
}

void test("ban and unban against a running daemon change what is dropped, IPv4 and IPv6", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);
  const inst = d.instance;

  await ok(inst, "ban", [ADDR.otherV4, "--reason", "manual test"]);
  await waitDropped(topo, ADDR.otherV4, d);
  await assertServed(topo, ADDR.scannerV4, d, "not banned");
  const entry = await waitListed(inst, "192.0.2.3/32");
  assert.equal(entry.source, "cli", JSON.stringify(entry));

  await ok(inst, "ban", [ADDR.otherV6]);
  await waitDropped(topo, ADDR.otherV6, d);
  await assertServed(topo, ADDR.scannerV6, d, "another /64");

  await ok(inst, "unban", [ADDR.otherV4]);
  await waitServed(topo, ADDR.otherV4, d);
  assert.ok(!(await inst.list()).some((e) => e.prefix === "192.0.2.3/32"), "unbanned address is not listed");
  await assertDropped(topo, ADDR.otherV6, d, "the IPv6 ban stays");

  // The argument that banned it unbans it, whatever prefix the ban was widened to.
  await ok(inst, "unban", [ADDR.otherV6]);
  await waitServed(topo, ADDR.otherV6, d);
  assert.ok(!(await inst.list()).some((e) => e.prefix.startsWith("2001:db8:0:2:")), "unbanned prefix is not listed");
});

void test("unban lifts a ban the trap made; the next trap hit bans again", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);
  const inst = d.instance;

  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await assertDropped(topo, ADDR.scannerV4, d);
  await waitListed(inst, "192.0.2.2/32");

  await ok(inst, "unban", [ADDR.scannerV4]);
  await waitServed(topo, ADDR.scannerV4, d);
  assert.ok(!(await inst.list()).some((e) => e.prefix === "192.0.2.2/32"), "unbanned address is not listed");

  await assertTrapHit(topo, ADDR.scannerV4, 21, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await waitListed(inst, "192.0.2.2/32");
});

void test("a malformed address is refused with exit 65 and nothing changes (daemon running)", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);
  await ok(d.instance, "ban", [ADDR.otherV4]);
  await waitDropped(topo, ADDR.otherV4, d);

  await assertMalformedRefused(d.instance);
  await assertDropped(topo, ADDR.otherV4, d, "the earlier ban stands");
  await assertServed(topo, ADDR.scannerV4, d);
  assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
});

void test("without a running daemon, ban/unban/list act on store and firewall directly", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);
  const inst = d.instance;
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);

  await ok(inst, "ban", [ADDR.otherV4, "--reason", "offline"]);
  const entry = await waitListed(inst, "192.0.2.3/32", 1000);
  assert.equal(entry.source, "cli", JSON.stringify(entry));
  await waitDropped(topo, ADDR.otherV4, undefined, 1000);
  await assertServed(topo, ADDR.scannerV4);

  await assertMalformedRefused(inst);

  await ok(inst, "unban", [ADDR.otherV4]);
  await waitServed(topo, ADDR.otherV4, undefined, 1000);
  assert.ok(!(await inst.list()).some((e) => e.prefix === "192.0.2.3/32"));

  // What the CLI stored while the daemon was down is in force when it starts.
  await ok(inst, "ban", [ADDR.scannerV4]);
  const again = await inst.start();
  await assertDropped(topo, ADDR.scannerV4, again, "banned offline, daemon restarted");
  await assertServed(topo, ADDR.otherV4, again);
});
