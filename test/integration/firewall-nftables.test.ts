import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import type { FirewallBan } from "../../src/firewall/firewall.js";
import type { NftOptions } from "../../src/firewall/nft-ruleset.js";
import { parsePrefix } from "../../src/net/address.js";
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

/** The i-th address of 240.0.0.0/4 (reserved, never routed: set elements only, no traffic). */
const bulk = (i: number): string => `${240 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

/** `n` bans in pages of 2,000, as the reconciler reads them from the store. */
async function* bulkPages(n: number): AsyncGenerator<FirewallBan[]> {
  for (let i = 0; i < n; i += 2_000) {
    yield Array.from({ length: Math.min(2_000, n - i) }, (_, j) => ({ prefix: parsePrefix(bulk(i + j)), timeoutSec: 3_600 }));
    await new Promise((r) => setImmediate(r));
  }
}

void test("nftables: a restore of 230,000 bans goes as several transactions and all are in the set; one nft refuses fails the restore (to be retried), not the process", async (t) => {
  if (!requireRoot(t)) return;
  const own = uniqueName("fwrestore");
  execFileSync("ip", ["netns", "add", own]);
  t.after(() => execFileSync("ip", ["netns", "del", own]));
  const held = async (fw: NftablesFirewall): Promise<number> => {
    let n = 0;
    await fw.scan((batch) => Promise.resolve(void (n += batch.length)));
    return n;
  };

  const fw = firewallIn(own, { setName: "restore", trapPorts: [23], trapPortsHeld: false, maxBans: 262_144 });
  t.after(() => fw.close());
  await fw.setup();
  assert.equal(await fw.restore(() => bulkPages(230_000)), 230_000);
  assert.equal(await held(fw), 230_000);

  // A set too small: the second transaction is refused while the third is being made.
  const small = firewallIn(own, { setName: "small", trapPorts: [23], trapPortsHeld: false, maxBans: 150_000 });
  t.after(() => small.close());
  await small.setup({ emptyBanSets: true });
  await assert.rejects(small.restore(() => bulkPages(230_000)));
});
