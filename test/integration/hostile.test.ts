// Hostile scanners: 2000 simultaneous connections from one address over 20
// trap ports, one client sending 1 MB and holding its socket, one resetting
// right after the handshake. The daemon stays up, still answers, still bans,
// and bans each address once. Run with the listener taking the load
// (kernel_route = false) and with the defaults.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertServed, blockingRe, duplicates, linesMatching, waitDropped, waitListed, assertTrapHit } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

const FLOOD = "192.0.2.10";
const BIG = "192.0.2.11";
const RESET = "192.0.2.12";
const LATE = "192.0.2.13";
const TRAPS = [21, 23, 111, 135, 137, 138, 139, 445, 1433, 3306, 3389, 5432, 6000, 6001, 6002, 6003, 7890, 9999, 25565, 27019];

interface Summary {
  done: boolean;
  /** reset: the handshake completed and the daemon reset it before the client saw "connect". */
  flood: { connected: number; reset: number; timeout: number; refused: number; error: number };
  big: { handshake?: boolean; error?: string; bytesWritten?: number };
  reset: { handshake?: boolean; error?: string };
}

// Runs in the scanner namespace. First the 1 MB client (its data is queued
// before the handshake completes, so it goes out at once) and the resetting
// client, then the flood. Prints one JSON line when every flood connect has
// settled; keeps every socket still open until stdin closes or it is killed.
const HOSTILE_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const cfg = JSON.parse(process.argv[1]);
const summary = { done: true, flood: { connected: 0, reset: 0, timeout: 0, refused: 0, error: 0 }, big: {}, reset: {} };
const held = [];

const big = net.connect({ host: cfg.dst, port: cfg.bigPort, localAddress: cfg.big });
big.on("error", (e) => {
  summary.big.error = e.code || e.message;
  if (e.code === "ECONNRESET") summary.big.handshake = true;
});
big.on("connect", () => { summary.big.handshake = true; });
big.write(Buffer.alloc(cfg.bigBytes, 0x41)); // queued until connected, then sent at once; never ended

const rs = net.connect({ host: cfg.dst, port: cfg.resetPort, localAddress: cfg.reset });
rs.on("error", (e) => {
  if (summary.reset.handshake) return;
  summary.reset.error = e.code || e.message;
  if (e.code === "ECONNRESET") summary.reset.handshake = true;
});
rs.on("connect", () => { summary.reset.handshake = true; rs.resetAndDestroy(); });

function flood() {
  let pending = cfg.count;
  for (let i = 0; i < cfg.count; i++) {
    const s = net.connect({ host: cfg.dst, port: cfg.ports[i % cfg.ports.length], localAddress: cfg.flood });
    held.push(s);
    let settled = false;
    const settle = (k) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      summary.flood[k]++;
      if (k !== "connected") s.destroy();
      if (--pending === 0) {
        summary.big.bytesWritten = big.bytesWritten;
        console.log(JSON.stringify(summary));
      }
    };
    const timer = setTimeout(() => settle("timeout"), cfg.timeoutMs);
    s.on("connect", () => settle("connected"));
    s.on("error", (e) => settle(e.code === "ECONNREFUSED" ? "refused" : e.code === "ECONNRESET" ? "reset" : "error"));
  }
}
setTimeout(flood, 300);
process.stdin.resume();
process.stdin.on("end", () => { for (const s of held) s.destroy(); big.destroy(); process.exit(0); });
`;

for (const kernelRoute of [false, true]) {
  const config: IblockConfig = kernelRoute ? {} : { kernel_route: false };
  const route = kernelRoute ? "defaults (kernel route)" : "listener takes the load (kernel_route = false)";

  void test(`hostile scanners: the daemon stays up and bans each address once, ${route}`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t, { extraV4: [FLOOD, BIG, RESET, LATE] });
    const d = await startDaemon(t, topo.host, config);

    const args = {
      dst: ADDR.hostV4,
      flood: FLOOD,
      ports: TRAPS,
      count: 2000,
      timeoutMs: 3000,
      big: BIG,
      bigPort: 23,
      bigBytes: 1024 * 1024,
      reset: RESET,
      resetPort: 21,
    };
    const attack = topo.spawnNode(topo.scanner, HOSTILE_SCRIPT, [JSON.stringify(args)], { stdin: true });
    const line = await attack.waitForLine(/^\{"done":true/, 20_000);
    const summary = JSON.parse(line) as Summary;
    // Once the first handshake bans the flood's address the rest of its SYNs are
    // dropped, so only the connections that beat the ban complete.
    assert.ok(summary.flood.connected + summary.flood.reset > 0, `some flood handshakes completed: ${line}`);
    assert.ok(summary.big.handshake, `the 1 MB client completed its handshake: ${line}`);
    assert.ok(summary.reset.handshake, `the resetting client completed its handshake: ${line}`);
    t.diagnostic(`attack: ${line}`);

    await waitDropped(topo, FLOOD, d);
    await waitDropped(topo, BIG, d);
    await waitListed(d.instance, `${FLOOD}/32`);
    await waitListed(d.instance, `${BIG}/32`);
    if (kernelRoute) {
      // The reset came after the handshake's ACK: the kernel saw a proven address.
      await waitDropped(topo, RESET, d);
      await waitListed(d.instance, `${RESET}/32`);
    }
    await sleep(1500); // let any late duplicate show up

    assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
    const stats = await d.instance.cli("stats", ["--json"]);
    assert.equal(stats.code, 0, `iblock stats --json answers: ${stats.stderr}\n${d.tail()}`);
    assert.equal(typeof JSON.parse(stats.stdout), "object", `stats is JSON: ${stats.stdout}`);

    const entries = await d.instance.list();
    assert.deepEqual(duplicates(entries), [], `each address listed once: ${JSON.stringify(entries)}`);
    for (const addr of [FLOOD, BIG]) {
      assert.equal(entries.filter((e) => e.prefix === `${addr}/32`).length, 1, `${addr} listed once`);
      assert.equal(linesMatching(d, blockingRe(addr)).length, 1, `${addr} logged once\n${d.tail()}`);
    }
    const resetLines = linesMatching(d, blockingRe(RESET)).length;
    // A listener may get no peer address for a reset connection; it must never ban twice.
    assert.ok(kernelRoute ? resetLines === 1 : resetLines <= 1, `${RESET} logged ${resetLines} times\n${d.tail()}`);
    for (const e of entries) {
      assert.ok(["192.0.2.10/32", "192.0.2.11/32", "192.0.2.12/32"].includes(e.prefix), `only the attackers are banned: ${e.prefix}`);
    }

    // Still working: the innocent source is served, and a new scanner is banned.
    await assertServed(topo, ADDR.otherV4, d);
    await assertTrapHit(topo, LATE, 23, d);
    await waitDropped(topo, LATE, d);
    await waitListed(d.instance, `${LATE}/32`);

    await attack.stop("SIGTERM");
    assert.deepEqual(await d.stop(), { code: 0, signal: null }, `exit 0 on SIGTERM\n${d.tail()}`);
  });
}
