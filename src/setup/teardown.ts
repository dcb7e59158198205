import type { Config } from "../config.js";
import { askDaemon } from "../control/client.js";
import { IblockError, EX_NOINPUT, EX_TEMPFAIL, unavailableError } from "../errors.js";
import { claimFirewall } from "../firewall/nft-owner.js";
import { NFT_TABLE } from "../firewall/nft-ruleset.js";
import { run } from "../firewall/run.js";
import { lockHolder } from "../state-lock.js";
import { openReader } from "../store/reader.js";

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
      // Never the table of another iblock (another state_dir) that runs: claiming it refuses (75) then.
      await claimFirewall(config);
      await run([...config.command_prefix, "nft", "delete", "table", "inet", NFT_TABLE]);
      return `removed the nftables table inet ${NFT_TABLE}: no address is dropped by iblock any more, no trap port is answered`;
    case "pf":
      await run([...config.command_prefix, config.pfctl, "-t", config.table, "-T", "flush"]);
      return `flushed the PF table <${config.table}>: no address is blocked by it any more`;
    case "none":
      return 'firewall "none": nothing of iblock is in a firewall';
  }
}

/** The state dir's line: how many bans the store holds, or why that cannot be told (never "none" for a store not read). */
function storeLine(config: Config): string {
  let inForce = 0;
  try {
    const store = openReader(config);
    try {
      inForce = store.countActive();
    } finally {
      store.close();
    }
  } catch (e) {
    if (!(e instanceof IblockError && e.exitCode === EX_NOINPUT)) return `state_dir ${config.state_dir}: ${(e as Error).message}`;
    return `state_dir ${config.state_dir}: no store (the daemon never ran here)`;
  }
  return `state_dir ${config.state_dir}: the store, with ${inForce} ban(s) in force (permanent ones included) and the history; the next "iblock run" puts every ban in force back: remove the directory to forget them`;
}

/** What stays after the firewall part is gone, for the admin to remove or keep. */
function leftBehind(config: Config): string[] {
  const lines = [storeLine(config)];
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
  const done = await removeFromFirewall(config).catch((e: Error) => {
    throw e instanceof IblockError ? e : unavailableError(`cannot change the ${config.firewall} firewall: ${e.message}`);
  });
  return `${done}\nleft in place:\n${leftBehind(config).map((l) => `  ${l}\n`).join("")}`;
}
