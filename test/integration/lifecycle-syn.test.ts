// Half-open scans, opt-in: with catch_syn_scans = true a bare SYN to a trap
// port bans its source in the kernel (nmap -sS never completes a handshake), for
// syn_ban_time (default 1 h), listed with source "syn"; the allow list still
// applies. Without it the same scan leaves the scanner unbanned.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, linesMatching, waitDropped, waitListed } from "../support/checks.js";
import { startDaemon, type Daemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { banLengthMs } from "../support/lifecycle.js";
import { ADDR, createTopology, type Topology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

const NEEDS = ["ip", "nft", "nmap"];
// Bounded: 11 ports (21 and 23 are traps), no host discovery, no DNS, no retries,
// short waits for ports that go silent once the scanner is banned, a hard limit.
const SCAN = ["-sS", "-e", "vs", "-Pn", "-n", "-p", "20-30", "--max-retries", "0", "--max-rtt-timeout", "100ms", "--host-timeout", "20s"];
const HOUR_MS = 3_600_000;

async function synScan(topo: Topology, target: string): Promise<string> {
  const r = await topo.execScanner(["nmap", ...(target.includes(":") ? ["-6"] : []), ...SCAN, target], { timeoutMs: 40_000 });
  assert.match(r.stdout, /Nmap done: 1 IP address \(1 host up\)/, `nmap scanned the host:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function assertNotBanned(topo: Topology, d: Daemon, src: string, why: string): Promise<void> {
  await sleep(1500); // longer than the daemon's drain of the kernel's hits (every 100 ms in its first minute)
  await assertServed(topo, src, d, why);
  const listed = (await d.instance.list()).map((e) => e.prefix);
  assert.deepEqual(listed, [], `nothing is listed (${why})\n${d.tail()}`);
  assert.equal(linesMatching(d, /\bblocking /).length, 0, `no "blocking" line (${why})\n${d.tail()}`);
}

void test("with catch_syn_scans, nmap -sS gets the scanner banned for syn_ban_time, IPv4 and IPv6", async (t) => {
  if (!requireRoot(t, NEEDS)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { catch_syn_scans: true });

  await synScan(topo, ADDR.hostV4);
  await waitDropped(topo, ADDR.scannerV4, d);
  await assertServed(topo, ADDR.otherV4, d, "another source");
  const v4 = await waitListed(d.instance, "192.0.2.2/32");
  assert.equal(v4.source, "syn", `listed as a SYN ban: ${JSON.stringify(v4)}`);
  assert.ok(v4.port === 21 || v4.port === 23, `the trap port the SYN went to: ${JSON.stringify(v4)}`);
  const len = banLengthMs(v4);
  assert.ok(Math.abs(len - HOUR_MS) < 10_000, `syn_ban_time (1 h), not ban_time (24 h): ${len} ms, ${JSON.stringify(v4)}`);

  await synScan(topo, ADDR.hostV6);
  await waitDropped(topo, ADDR.scannerV6, d);
  await assertDropped(topo, ADDR.scannerV6Sibling, d, "the SYN scanner's /64");
  await assertServed(topo, ADDR.otherV6, d, "another /64");
  const v6 = await waitListed(d.instance, "2001:db8:0:1::/64");
  assert.equal(v6.source, "syn", `listed as a SYN ban: ${JSON.stringify(v6)}`);
  assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
});

void test("with catch_syn_scans, an allowed source's nmap -sS is not banned", async (t) => {
  if (!requireRoot(t, NEEDS)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { catch_syn_scans: true, allow: [`${ADDR.scannerV4}/32`, "2001:db8:0:1::/64"] });
  await synScan(topo, ADDR.hostV4);
  await synScan(topo, ADDR.hostV6);
  await assertNotBanned(topo, d, ADDR.scannerV4, "allowed");
  await assertServed(topo, ADDR.scannerV6, d, "allowed");
});

for (const [what, config] of [
  ["by default", {}],
  ["with catch_syn_scans = false", { catch_syn_scans: false }],
] as [string, IblockConfig][]) {
  void test(`${what}, nmap -sS leaves the scanner unbanned`, async (t) => {
    if (!requireRoot(t, NEEDS)) return;
    const topo = await createTopology(t);
    const d = await startDaemon(t, topo.host, config);
    const out = await synScan(topo, ADDR.hostV4);
    // Direct mode binds the trap ports, so the SYN scan sees them open: it did reach them.
    assert.match(out, /\b23\/tcp\s+open\b/, `the SYN scan saw trap port 23 open:\n${out}`);
    await synScan(topo, ADDR.hostV6);
    await assertNotBanned(topo, d, ADDR.scannerV4, "after nmap -sS");
    await assertServed(topo, ADDR.scannerV6, d, "after nmap -6 -sS");
  });
}
