import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import type { NftOptions } from "../../src/firewall/nft-ruleset.js";
import { NftablesFirewall } from "../../src/firewall/nftables.js";
import { inCI, missing, requireRoot } from "../support/env.js";
import { uniqueName } from "../support/netns.js";
import { runFirewallSuite } from "../support/firewall-suite.js";

const why = missing(["ip", "nft", "conntrack"]);
if (why && inCI()) throw new Error(`nftables conformance cannot run in CI: ${why}`);
const ns = uniqueName("fw");

/** A kernel-route firewall inside namespace `where`. */
const firewallIn = (where: string, o: Pick<NftOptions, "setName" | "trapPorts" | "trapPortsHeld" | "maxBans">): NftablesFirewall =>
  new NftablesFirewall({
    commandPrefix: ["ip", "netns", "exec", where],
    allow: [],
    hostNets: [],
    kernelRoute: true,
    kernelDecides: true,
    redirectPort: undefined,
    ipv4Prefix: 32,
    ipv6Prefix: 64,
    ...o,
  });

runFirewallSuite({
  name: "nftables (real, in a network namespace)",
  skip: why ?? false,
  make: () => {
    execFileSync("ip", ["netns", "add", ns]);
    return firewallIn(ns, { setName: "suite", trapPorts: [23, 2323], trapPortsHeld: true, maxBans: 65_536 });
  },
  after: () => {
    execFileSync("ip", ["netns", "del", ns]);
  },
});

void test("nftables: a trap port a service took stays out of the traps set through a repair (setup again), and none left is no error", async (t) => {
  if (!requireRoot(t)) return;
  const own = uniqueName("fwtraps");
  execFileSync("ip", ["netns", "add", own]);
  t.after(() => execFileSync("ip", ["netns", "del", own]));
  const fw = firewallIn(own, { setName: "traps", trapPorts: [23, 3306], trapPortsHeld: false, maxBans: 1024 });
  t.after(() => fw.close());
  const traps = (): number[] => {
    const json = JSON.parse(execFileSync("ip", ["netns", "exec", own, "nft", "-j", "list", "set", "inet", "iblock", "traps"], { encoding: "utf8" })) as { nftables: { set?: { elem?: number[] } }[] };
    return json.nftables.flatMap((o) => o.set?.elem ?? []);
  };
  await fw.setup();
  assert.deepEqual(traps(), [23, 3306]);
  await fw.setTrapPorts([23]);
  assert.deepEqual(traps(), [23]);
  await fw.setup(); // what the drift repair does
  assert.deepEqual(traps(), [23], "the repair keeps 3306 out");
  await fw.setTrapPorts([]);
  await fw.setup();
  assert.deepEqual(traps(), []);
});
