// The least a Node program can do to ban the peer of a trap connection: accept,
// then one `add element` written to a long-running `nft -i`. The listener
// route's figure is measured against it, in the same run, topology, scanner
// and nft table (iblock's own, left behind by the daemon that made it).
import { validateConfig } from "../src/config.js";
import { setFor, setNames, NFT_TABLE } from "../src/firewall/nft-ruleset.js";
import { parsePrefix } from "../src/net/address.js";
import type { IblockConfig } from "../test/support/daemon.js";
import type { Topology } from "../test/support/netns.js";
import type { LineProcess } from "../test/support/proc.js";

// Runs in the host namespace. Nothing but the add: the connection is left as
// it is (a few dozen sockets for the length of one measurement).
const BLOCKER_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const { spawn } = require("node:child_process");
const cfg = JSON.parse(process.argv[1]);
const nft = spawn("nft", ["-i"], { stdio: ["pipe", "ignore", "inherit"] });
const server = net.createServer({ pauseOnConnect: true }, (s) => {
  nft.stdin.write("add element inet " + cfg.table + " " + cfg.set + " { " + s.remoteAddress + " timeout " + cfg.timeoutSec + "s }\n");
});
server.listen({ host: "0.0.0.0", port: cfg.port, backlog: 1024 }, () => console.log("ready"));
`;

/** Where a listener for `config` sits and which set an IPv4 source's ban goes to. */
function target(config: IblockConfig): { port: number; set: string; timeoutSec: number } {
  const c = validateConfig({ ...config, state_dir: "/nonexistent" }, "bench");
  const set = setFor(parsePrefix(`198.18.1.1/${c.ipv4_prefix}`), setNames(c.table), { ipv4Prefix: c.ipv4_prefix, ipv6Prefix: c.ipv6_prefix });
  const port = c.listen === "redirect" ? c.listen_port : 23;
  return { port, set, timeoutSec: Math.ceil(c.ban_time / 1000) };
}

/** Start the minimal blocker in the host namespace; stop() it when done. */
export async function startMinimalBlocker(topo: Topology, config: IblockConfig): Promise<LineProcess> {
  const p = topo.spawnNode(topo.host, BLOCKER_SCRIPT, [JSON.stringify({ ...target(config), table: NFT_TABLE })]);
  await p.waitForLine(/^ready$/, 10_000);
  return p;
}
