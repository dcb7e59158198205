import type { Config } from "../config.js";
import { askDaemon } from "../control/client.js";
import { IblockError, EX_TEMPFAIL } from "../errors.js";
import { NFT_TABLE } from "../firewall/nft-ruleset.js";
import { run } from "../firewall/run.js";
import { lockHolder } from "../state-lock.js";
import { openReader } from "../commands/list.js";

/** The running daemon's pid, if one holds the state dir or answers on the control socket. */
async function runningDaemon(config: Config): Promise<number | "unknown" | undefined> {
  const holder = lockHolder(config.state_dir);
  if (holder !== undefined) return holder;
  const ping = (await askDaemon(config.control_socket, { cmd: "ping" }).catch(() => undefined)) as { pid?: number } | undefined;
  return ping ? (ping.pid ?? "unknown") : undefined;
}

/** Whether nftables has iblock's table, read from nft's JSON listing. */
async function nftHasTable(prefix: readonly string[]): Promise<boolean> {
  const { stdout } = await run([...prefix, "nft", "-j", "list", "tables", "inet"]);
  const json = JSON.parse(stdout) as { nftables?: { table?: { family: string; name: string } }[] };
  return (json.nftables ?? []).some((o) => o.table?.family === "inet" && o.table.name === NFT_TABLE);
}

/** Take iblock's part of the firewall away; what it did, in a line. */
async function removeFromFirewall(config: Config): Promise<string> {
  switch (config.firewall) {
    case "nftables":
      if (!(await nftHasTable(config.command_prefix))) return `no nftables table inet ${NFT_TABLE}: nothing to remove`;
      await run([...config.command_prefix, "nft", "delete", "table", "inet", NFT_TABLE]);
      return `removed the nftables table inet ${NFT_TABLE}: no address is dropped by iblock any more, no trap port is answered`;
    case "pf":
      await run([...config.command_prefix, config.pfctl, "-t", config.table, "-T", "flush"]);
      return `flushed the PF table <${config.table}>: no address is blocked by it any more`;
    case "none":
      return 'firewall "none": nothing of iblock is in a firewall';
  }
}

/** What stays after the firewall part is gone, for the admin to remove or keep. */
function leftBehind(config: Config): string[] {
  const store = openReader(config);
  let inForce = 0;
  try {
    inForce = store?.countActive() ?? 0;
  } finally {
    store?.close();
  }
  const lines = [
    `state_dir ${config.state_dir}: the store, with ${inForce} ban(s) in force (permanent ones included) and the history; the next "iblock run" puts every ban in force back: remove the directory to forget them`,
  ];
  if (config.firewall === "pf") {
    lines.push(`pf.conf: the table, block and rdr-to lines of "iblock setup pf", and the persist file ${config.persist_file}, which reloads the table at the next pfctl -f`);
  }
  lines.push(
    "the service files: iblock.service and iblock.socket (systemctl disable --now iblock.socket iblock.service), an inetd.conf line or /etc/rc.d/iblock",
    `the config file ${config.source === "defaults" ? "(none: defaults)" : config.source}, and iblock itself`,
  );
  return lines;
}

/**
 * `iblock teardown`: iblock's table out of the firewall, for an admin who
 * stops using iblock (its table and permanent bans outlive the daemon).
 * Refused while a daemon runs: it would put the table back at its next check.
 */
export async function teardown(config: Config): Promise<string> {
  const pid = await runningDaemon(config);
  if (pid !== undefined) {
    throw new IblockError(
      `iblock is running (pid ${pid}) with state_dir ${config.state_dir} and would put its table back: stop it first (with systemd, stop iblock.socket too, or a connection starts it again)`,
      EX_TEMPFAIL,
    );
  }
  const done = await removeFromFirewall(config);
  return `${done}\nleft in place:\n${leftBehind(config).map((l) => `  ${l}\n`).join("")}`;
}
