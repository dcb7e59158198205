// A real scanner: Debian's nmap from the scanner namespace (source 192.0.2.2).
// A connect scan (-sT) completes handshakes with trap ports and is banned, even
// though it resets each connection at once; a SYN scan (-sS) never completes a
// handshake, so it proves no source address and is not banned (by design).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, blockingRe, linesMatching, waitListed } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

const NEEDS = ["ip", "nft", "nmap"];
// Bounded: no host discovery, no DNS, no retries, short waits for the ports that
// go silent once the scanner is banned, a hard limit per host.
const BOUNDED = ["-Pn", "-n", "-p", "1-1024", "--max-retries", "0", "--max-rtt-timeout", "100ms", "--min-rate", "1000", "--host-timeout", "40s"];

void test("nmap -sT over ports 1-1024 gets the scanner dropped, another source still served", async (t) => {
  if (!requireRoot(t, NEEDS)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);

  const scan = await topo.execScanner(["nmap", "-sT", ...BOUNDED, ADDR.hostV4], { timeoutMs: 50_000 });
  assert.match(scan.stdout, /\b\d+\/tcp\s+open\b/, `the scan reached an open trap port:\n${scan.stdout}`);

  await assertDropped(topo, ADDR.scannerV4, d, "after nmap -sT");
  await assertServed(topo, ADDR.otherV4, d, "another source");
  await assertServed(topo, ADDR.otherV6, d, "another source, IPv6");
  await waitListed(d.instance, "192.0.2.2/32");
  await d.waitForLine(blockingRe(ADDR.scannerV4), 10_000);
  assert.equal(linesMatching(d, blockingRe(ADDR.scannerV4)).length, 1, `banned once for the whole scan\n${d.tail()}`);
});

void test("nmap -sS (half-open, no handshake) leaves the scanner unbanned", async (t) => {
  if (!requireRoot(t, NEEDS)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);

  const scan = await topo.execScanner(["nmap", "-sS", "-e", "vs", ...BOUNDED, ADDR.hostV4], {
    timeoutMs: 50_000,
  });
  // The kernel answers trap ports with SYN cookies, so the SYN scan sees them open: it did reach them.
  assert.match(scan.stdout, /\b23\/tcp\s+open\b/, `the SYN scan saw trap port 23 open:\n${scan.stdout}`);

  await sleep(1500); // longer than the daemon's drain of the kernel's hits (every 100 ms in its first minute)
  await assertServed(topo, ADDR.scannerV4, d, "after nmap -sS");
  assert.ok(!(await d.instance.list()).some((e) => e.prefix.startsWith("192.0.2.2/")), "the SYN scanner is not listed");
  assert.equal(linesMatching(d, blockingRe(ADDR.scannerV4)).length, 0, `no "blocking" line\n${d.tail()}`);
  assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
});
