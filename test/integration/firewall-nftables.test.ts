import { execFileSync } from "node:child_process";
import { NftablesFirewall } from "../../src/firewall/nftables.js";
import { inCI, missing } from "../support/env.js";
import { uniqueName } from "../support/netns.js";
import { runFirewallSuite } from "../support/firewall-suite.js";

const why = missing(["ip", "nft", "conntrack"]);
if (why && inCI()) throw new Error(`nftables conformance cannot run in CI: ${why}`);
const ns = uniqueName("fw");

runFirewallSuite({
  name: "nftables (real, in a network namespace)",
  skip: why ?? false,
  make: () => {
    execFileSync("ip", ["netns", "add", ns]);
    return new NftablesFirewall({
      commandPrefix: ["ip", "netns", "exec", ns],
      setName: "suite",
      trapPorts: [23, 2323],
      allow: [],
      kernelRoute: true,
      kernelDecides: true,
      redirectPort: undefined,
      trapPortsHeld: true,
      ipv4Prefix: 32,
      ipv6Prefix: 64,
      maxBans: 65_536,
    });
  },
  after: () => {
    execFileSync("ip", ["netns", "del", ns]);
  },
});
