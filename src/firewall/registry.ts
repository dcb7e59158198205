import type { Config } from "../config.js";
import { allowListFor } from "../policy/allow.js";
import { hostAddresses } from "../policy/host-addresses.js";
import type { Firewall } from "./firewall.js";
import type { NftOptions } from "./nft-ruleset.js";
import { NftablesFirewall } from "./nftables.js";
import { NoFirewall } from "./none.js";
import { PfFirewall } from "./pf.js";

/** A ban time as nft wants it; undefined for permanent. */
const seconds = (ms: number): number | undefined => (ms === Infinity ? undefined : Math.ceil(ms / 1000));

export function nftOptions(config: Config): NftOptions {
  return {
    commandPrefix: config.command_prefix,
    setName: config.table,
    trapPorts: config.trap_ports,
    allow: allowListFor(config).prefixes,
    hostNets: hostAddresses().map((h) => h.prefix),
    kernelRoute: config.kernel_route,
    kernelDecides: config.threshold === 1,
    kernelBanSec: seconds(config.ban_time),
    synBanSec: config.catch_syn_scans ? seconds(config.syn_ban_time) : undefined,
    redirectPort: config.listen === "redirect" && !config.kernel_route ? config.listen_port : undefined,
    trapPortsHeld: config.listen === "direct",
    ipv4Prefix: config.ipv4_prefix,
    ipv6Prefix: config.ipv6_prefix,
    maxBans: config.max_bans,
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
