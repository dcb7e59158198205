import type { Config } from "../config.js";
import { runningDaemon } from "../control/running.js";
import { IblockError, EX_NOPERM, EX_TEMPFAIL, unavailableError } from "../errors.js";
import { makeFirewall } from "../firewall/registry.js";
import { withReader } from "../bans/pipeline.js";
import { NoStoreError } from "../bans/store-access.js";

/** The state dir's line: how many bans the store holds, or why that cannot be told (never "none" for a store not read). */
function storeLine(config: Config): string {
  let inForce = 0;
  try {
    inForce = withReader(config, (store) => store.countActive());
  } catch (e) {
    if (e instanceof NoStoreError) return `state_dir ${config.state_dir}: no store (the daemon never ran here)`;
    return `state_dir ${config.state_dir}: ${(e as Error).message}`;
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
  const { pid, askError } = await runningDaemon(config);
  if (pid !== undefined) {
    throw new IblockError(
      `iblock is running (pid ${pid}) with state_dir ${config.state_dir} and would put its table back: stop it first (with systemd, stop iblock.socket too, or a connection starts it again)`,
      EX_TEMPFAIL,
    );
  }
  // Not allowed to ask its socket: a daemon may run there, out of our sight (another user's). Never guessed.
  if (askError instanceof IblockError && askError.exitCode === EX_NOPERM) {
    throw new IblockError(`cannot tell whether an iblock runs with state_dir ${config.state_dir} (${askError.message}): run teardown as root or as the daemon's user`, EX_NOPERM);
  }
  const firewall = makeFirewall(config);
  const done = await firewall
    .uninstall({ pid: process.pid, stateDir: config.state_dir })
    .catch((e: Error) => {
      throw e instanceof IblockError ? e : unavailableError(`cannot change the ${config.firewall} firewall: ${e.message}`);
    })
    .finally(() => firewall.close?.());
  return `${done}\nleft in place:\n${leftBehind(config).map((l) => `  ${l}\n`).join("")}`;
}
