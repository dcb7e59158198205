// A daemon that says "ready" listens: listen_addresses naming an address this
// host lacks is a mistake in the config, refused at start with exit 78
// (EX_CONFIG) naming the address, even beside addresses that work; a SIGHUP
// with such a config keeps the old one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertTrapHit } from "../support/checks.js";
import { createInstance, EX, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { reload } from "../support/lifecycle.js";
import { ADDR, createTopology, exec } from "../support/netns.js";

/** A documentation address the test host does not have. */
const ABSENT = "198.51.100.77";

const cases: [string, IblockConfig][] = [
  ["direct, the only address absent", { listen: "direct", trap_ports: [23], listen_addresses: [ABSENT] }],
  ["direct, one address of two absent", { listen: "direct", trap_ports: [23], listen_addresses: [ADDR.hostV4, ABSENT] }],
  ["redirect, one address of two absent", { listen: "redirect", listen_addresses: ["0.0.0.0", ABSENT] }],
];

for (const [name, config] of cases) {
  void test(`listen_addresses with an address the host lacks: exit 78 naming it, never "ready" (${name})`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t);
    const inst = await createInstance(t, topo.host, config);
    const d = await inst.start({ waitReady: false });
    const exit = await d.proc.exited;
    assert.equal(exit.code, EX.CONFIG, d.tail());
    assert.match(d.tail(), new RegExp(`listen_addresses.*no address ${ABSENT.replace(/\./g, "\\.")}`));
    assert.equal(d.lines.filter((l) => /\bready\b/.test(l)).length, 0, d.tail());
  });
}

void test("a SIGHUP to listen_addresses the host lacks keeps the old config, which goes on banning", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const base: IblockConfig = { listen: "direct", trap_ports: [23], kernel_route: false };
  const inst = await createInstance(t, topo.host, base);
  const d = await inst.start();
  await inst.writeConfig({ ...base, listen_addresses: [ABSENT] });
  const answer = await reload(d);
  assert.match(answer, /SIGHUP: could not apply the new config/, d.tail());
  assert.match(d.tail(), new RegExp(`no address ${ABSENT.replace(/\./g, "\\.")}`));
  // The old config back whole: its listeners bound again, then the firewall checked.
  await d.waitForLine(/(checked|repaired) the firewall \(SIGHUP\)/, 10_000);
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await d.waitForLine(/blocking 192\.0\.2\.2/, 5000);
});

void test("an address on an interface but not usable yet (IPv6 under duplicate address detection): exit 69, which the unit restarts, not 78", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  // An address under duplicate address detection is on its interface (up) but cannot be bound to;
  // a minute between DAD probes keeps it so for the whole test, whatever this machine's speed.
  const TENTATIVE = "2001:db8:0:9::1";
  await exec(topo.host, ["ip", "link", "add", "tent0", "type", "veth", "peer", "name", "tent1"]);
  await exec(topo.host, ["sysctl", "-qw", "net.ipv6.conf.tent0.accept_dad=1", "net.ipv6.conf.tent0.dad_transmits=1", "net.ipv6.neigh.tent0.retrans_time_ms=60000"]);
  await exec(topo.host, ["ip", "link", "set", "tent0", "up"]);
  await exec(topo.host, ["ip", "link", "set", "tent1", "up"]);
  await exec(topo.host, ["ip", "addr", "add", `${TENTATIVE}/64`, "dev", "tent0"]);
  assert.match((await exec(topo.host, ["ip", "addr", "show", "dev", "tent0"])).stdout, /2001:db8:0:9::1\/64 scope global tentative/);
  const inst = await createInstance(t, topo.host, { listen: "direct", trap_ports: [23], listen_addresses: [TENTATIVE] });
  const d = await inst.start({ waitReady: false });
  assert.equal((await d.proc.exited).code, EX.UNAVAILABLE, d.tail());
  assert.match(d.tail(), /cannot listen on 2001:db8:0:9::1 yet \(EADDRNOTAVAIL: duplicate address detection is under way/);
  assert.equal(d.lines.filter((l) => /\bready\b/.test(l)).length, 0, d.tail());
});
