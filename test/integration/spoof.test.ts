// Forged packets must never get an address banned. A blind attacker in the
// scanner namespace sends raw segments claiming other sources: a SYN and bare
// ACKs with guessed numbers, a sweep of the acknowledgement number, ACKs
// alone, data, FIN and reset mixes, over IPv4 and IPv6, from addresses that
// have a live owner (who answers the host's SYN-ACK with a reset) and from
// addresses nobody holds; and an unprivileged local user connects from
// addresses it does not hold (non-local binds). The ban sets are sampled while the attack runs; the
// owners reach the service during and after it. In the same daemon, real
// handshakes, nmap -sT and a 1,000-source storm are still all banned.
import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { describe, test } from "node:test";
import { assertDropped, assertServed, blockingRe, linesMatching, waitListed } from "../support/checks.js";
import { startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, type Topology } from "../support/netns.js";
import { bannedElements, elementText } from "../support/nft.js";
import { attack, PATTERNS, sendSegments, type Flow, type Pattern } from "../support/spoof.js";
import { probeAll, stormSource, trapStorm } from "../support/storm.js";

const NEEDS = ["ip", "nft", "nmap", "python3", "setpriv"];
const TRAP = 23;
const NMAP_SOURCE = "192.0.2.20";

// Live: held by the scanner namespace (198.18.0.0/15 as AnyIP, the v6 ones one by one).
// Dead: routed to the scanner namespace, which neither holds nor forwards them.
const LIVE_V4 = "198.19.7."; // outside the storm's sources (198.18.0.0 - 198.18.3.255)
const DEAD_V4 = "203.0.113.";
const LIVE_V6 = "2001:db8:0:7::";
const DEAD_V6 = "2001:db8:0:9::";

async function addForgeableSources(topo: Topology, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) await topo.execScanner(["ip", "-6", "addr", "add", `${LIVE_V6}${i}/128`, "dev", "lo", "nodad"]);
  await topo.execHost(["ip", "route", "add", `${DEAD_V4}0/24`, "via", ADDR.scannerV4, "dev", "vh"]);
  for (const net of [LIVE_V6, DEAD_V6]) {
    await topo.execHost(["ip", "-6", "route", "add", `${net}/64`, "via", ADDR.scannerV6, "dev", "vh"]);
  }
}

// A local user claiming other addresses: unprivileged, with non-local binds
// allowed (as IPv6 freebind allows anyone), to this host's trap port and to another host's.
const LOCAL_FORGED = ["198.19.9.9", "2001:db8:0:8::9"];
const LOCAL_FORGER = String.raw`
const net = require("node:net");
const jobs = JSON.parse(process.argv[1]).map((j) => new Promise((done) => {
  const s = net.connect({ host: j.dst, port: j.port, localAddress: j.src });
  const end = () => { clearTimeout(t); s.destroy(); done(); };
  const t = setTimeout(end, 1000);
  s.on("connect", end);
  s.on("error", end);
}));
Promise.all(jobs).then(() => console.log("done"));
`;

async function forgeLocally(topo: Topology): Promise<void> {
  const allow = 'for (const f of ["ipv4/ip_nonlocal_bind", "ipv6/ip_nonlocal_bind"]) require("node:fs").writeFileSync("/proc/sys/net/" + f, "1")';
  await topo.execHost([process.execPath, "-e", allow]);
  const jobs = LOCAL_FORGED.flatMap((src) => {
    const v6 = src.includes(":");
    return [v6 ? ADDR.hostV6 : ADDR.hostV4, v6 ? ADDR.scannerV6 : ADDR.scannerV4].map((dst) => ({ src, dst, port: TRAP }));
  });
  const r = await topo.execHost(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", LOCAL_FORGER, JSON.stringify(jobs)], { timeoutMs: 20_000 });
  assert.match(r.stdout, /done/);
}

/** Every forged flow: each pattern from a live and a dead source of each family. */
function forgeries(): { flow: Flow; pattern: Pattern }[] {
  const patterns: Pattern[] = [
    ...[1, 2, 3, 4, 5].map((n) => PATTERNS.synThenAcks(n)),
    PATTERNS.acksAlone,
    PATTERNS.dataFinRst,
    PATTERNS.synThenSweep(60_000),
  ];
  const out: { flow: Flow; pattern: Pattern }[] = [];
  patterns.forEach((pattern, i) => {
    for (const [src, dst] of [
      [`${LIVE_V4}${i + 1}`, ADDR.hostV4],
      [`${DEAD_V4}${i + 1}`, ADDR.hostV4],
      [`${LIVE_V6}${i + 1}`, ADDR.hostV6],
      [`${DEAD_V6}${i + 1}`, ADDR.hostV6],
    ] as const) {
      out.push({ flow: { src, dst, sport: 40_000 + i, dport: TRAP }, pattern });
    }
  });
  return out;
}

/** Whether ban set elements (addresses, "a/len", "a-b", v6 keyed elements as their /64) cover `addr`. */
function covers(elements: ReadonlySet<string>, addr: string): boolean {
  const family = addr.includes(":") ? "ipv6" : "ipv4";
  const list = new BlockList();
  for (const e of elements) {
    const type = e.includes(":") ? "ipv6" : "ipv4";
    if (type !== family) continue; // BlockList would match an IPv4 address inside ::/64
    const [lo = "", hi] = e.split("-");
    const [a = "", len] = lo.split("/");
    if (hi !== undefined) list.addRange(lo, hi, type);
    else if (len !== undefined) list.addSubnet(a, Number(len), type);
    else list.addSubnet(a, type === "ipv6" ? 64 : 32, type);
  }
  return list.check(addr, family);
}

for (const [mode, config] of [
  ["redirect (the default on nftables)", {}],
  ["direct", { listen: "direct" }],
] as [string, IblockConfig][]) {
  void describe(`forged packets, listen ${mode}`, () => {
    void test("ban no forged source, ever; real handshakes, nmap -sT and a storm are all banned", async (t) => {
      if (!requireRoot(t, NEEDS)) return;
      const topo = await createTopology(t, { manySources: true, extraV4: [NMAP_SOURCE] });
      const flows = forgeries();
      await addForgeableSources(topo, flows.length);
      const forged = [...new Set(flows.map((x) => x.flow.src)), ...LOCAL_FORGED];
      const d = await startDaemon(t, topo.host, config);
      // The host sends a packet that is not TCP from the unspecified address: a
      // duplicate address probe for a new IPv6 address. It proves nothing either.
      await topo.execHost([process.execPath, "-e", 'require("node:fs").writeFileSync("/proc/sys/net/ipv6/conf/vh/accept_dad", "1")']);
      await topo.execHost(["ip", "-6", "addr", "add", "2001:db8::77/64", "dev", "vh"]);
      const owners = forged.filter((a) => a.startsWith(LIVE_V4) || a.startsWith(LIVE_V6));

      for (const owner of owners.slice(0, 2)) await assertServed(topo, owner, d, "a live owner, before the attack");

      // The attack, with the ban sets sampled and the owners probing the service while it runs.
      let running = true;
      const sampled = new Set<string>();
      const served: string[] = [];
      const sampler = (async () => {
        for (let i = 0; i < 2000 && running; i++) {
          for (const e of await bannedElements(topo.host)) sampled.add(e);
          const owner = owners[i % owners.length]!;
          const r = await topo.probeService(owner, 2000);
          served.push(`${owner} ${r}`);
        }
      })();
      try {
        await sendSegments(topo.scanner, attack(flows));
        await forgeLocally(topo);
      } finally {
        running = false;
        await sampler;
      }
      for (const e of await bannedElements(topo.host)) sampled.add(e);
      // The forged ACKs did reach the kernel route: each source's cookie checks were counted.
      const checked = new Set<string>();
      for (const set of ["iblocked_cookie_checks_v4", "iblocked_cookie_checks_v6"]) {
        const r = await topo.execHost(["nft", "-j", "list", "set", "inet", "iblock", set]);
        for (const o of (JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables) {
          for (const e of o.set?.elem ?? []) checked.add(String(elementText(e)));
        }
      }
      const raw = [...new Set(flows.map((x) => x.flow.src))];
      assert.deepEqual(raw.filter((src) => !covers(checked, src)), [], `every forged source's ACKs were checked (meter: ${[...checked].join(", ")})`);
      assert.ok(served.length > 0, "the owners probed during the attack");
      assert.deepEqual(served.filter((s) => !s.endsWith(" connected")), [], "every owner's probe during the attack was served");
      for (const src of forged) assert.ok(!covers(sampled, src), `forged source ${src} was never in a ban set (seen: ${[...sampled].join(", ")})`);

      // Control 1, a real handshake. The daemon handles the kernel's reports in
      // order, so once this one is logged every forged report before it would be too.
      await topo.hitTrap(ADDR.scannerV4, TRAP);
      await assertDropped(topo, ADDR.scannerV4, d, "a real handshake");
      await d.waitForLine(blockingRe(ADDR.scannerV4), 5000);
      await topo.hitTrap(ADDR.scannerV6, TRAP);
      // Its /64 holds this host's next hop (the scanner routes the forged ranges): the kernel only
      // reports it, and the daemon bans the address alone a moment later.
      await d.waitForLine(blockingRe(ADDR.scannerV6), 5000);
      await assertDropped(topo, ADDR.scannerV6, d, "a real IPv6 handshake");

      const listed = await d.instance.list();
      for (const src of forged) {
        assert.equal(linesMatching(d, blockingRe(src)).length, 0, `no "blocking ${src}"\n${d.tail()}`);
        assert.ok(!listed.some((e) => e.prefix.startsWith(src.includes(":") ? src.slice(0, src.lastIndexOf("::")) : `${src}/`)), `${src} is not in the store`);
      }
      for (const owner of owners) await assertServed(topo, owner, d, "a live owner, after the attack");

      // Control 2, nmap -sT (resets each connection right after the handshake).
      const scan = await topo.execScanner(["nmap", "-sT", "-Pn", "-n", "-S", NMAP_SOURCE, "-p", "20-30", "--max-retries", "0", "--host-timeout", "20s", ADDR.hostV4], { timeoutMs: 30_000 });
      assert.match(scan.stdout, /\b2[13]\/tcp\s+open\b/, `the scan completed a handshake with a trap port:\n${scan.stdout}`);
      await assertDropped(topo, NMAP_SOURCE, d, "after nmap -sT");
      await waitListed(d.instance, `${NMAP_SOURCE}/32`);

      // Control 3, a 1,000-source storm: every source banned.
      const sources = Array.from({ length: 1000 }, (_, i) => stormSource(i));
      const storm = await trapStorm(topo, sources, TRAP);
      assert.equal(storm.handshakes, 1000, `every storm source completed its handshake: ${JSON.stringify(storm)}`);
      const after = await probeAll(topo, sources, 500);
      assert.equal(after.dropped, 1000, `every storm source is dropped: answered ${after.answeredSources.slice(0, 10).join(", ")}`);
      // Nothing else was ever banned: not the probe from ::, nothing forged.
      // The scanner is this host's next hop to the forged ranges (addForgeableSources): its /64
      // holds a gateway, so its IPv6 ban is the address alone, not the /64.
      const expected = new Set([`${ADDR.scannerV4}/32`, `${ADDR.scannerV6}/128`, `${NMAP_SOURCE}/32`, ...sources.map((s) => `${s}/32`)]);
      assert.deepEqual((await d.instance.list()).map((e) => e.prefix).filter((p) => !expected.has(p)), [], "the store holds only the real scanners");
      const held = [...(await bannedElements(topo.host))].filter((e) => !/^(255\.255\.255\.255|ffff:ffff:ffff:ffff::(\/64)?)$/.test(e));
      // Nor does the kernel ban its /64 (the narrow set holds the gateway's network).
      const heldExpected = new Set([ADDR.scannerV4, ADDR.scannerV6, NMAP_SOURCE, ...sources]);
      assert.deepEqual(held.filter((e) => !heldExpected.has(e)), [], "the ban sets hold only the real scanners");
      assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
    });
  });
}
