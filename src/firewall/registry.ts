import type { Config } from "../config.js";
import { AllowList } from "../policy/allow.js";
import type { Firewall } from "./firewall.js";
import type { NftOptions } from "./nft-ruleset.js";
import { NftablesFirewall } from "./nftables.js";
import { NoFirewall } from "./none.js";
import { PfFirewall } from "./pf.js";

export function nftOptions(config: Config): NftOptions {
  return {
    commandPrefix: config.command_prefix,
    setName: config.table,
    trapPorts: config.trap_ports,
    allow: new AllowList(config.allow).prefixes,
    kernelRoute: config.kernel_route,
    redirectPort: config.listen === "redirect" ? config.listen_port : undefined,
    ipv4Prefix: config.ipv4_prefix,
    ipv6Prefix: config.ipv6_prefix,
  };
}

/** The one place a backend is chosen. A new backend is a file and a line here. */
export function makeFirewall(config: Config): Firewall {
  switch (config.firewall) {
    case "nftables":
      return new NftablesFirewall(nftOptions(config));
    case "pf":
      return new PfFirewall({ table: config.table, pfctl: config.pfctl, commandPrefix: config.command_prefix });
    case "none":
      return new NoFirewall();
  }
}
