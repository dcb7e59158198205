import type { Config } from "../config.js";
import { unavailableError } from "../errors.js";
import type { Firewall, Integrity } from "../firewall/firewall.js";
import { claimFirewall } from "../firewall/nft-owner.js";
import { makeFirewall } from "../firewall/registry.js";
import { Logger } from "../log.js";
import { usableTrapPorts } from "../trap/served-ports.js";

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The host's firewall is this iblock's, or this throws naming the iblock whose
 * it is. Said when it takes over the table of one that no longer runs.
 */
export async function claimTable(config: Config, log: Logger, oneShot: boolean): Promise<void> {
  const from = await claimFirewall(config, oneShot);
  if (from) log.warn(`the nftables table was last used by the iblock with state_dir ${from}, which no longer runs: this one takes it over, with the bans it holds`);
}

/**
 * The offline CLI's firewall, set up for a change. It gets the kernel route
 * too, never on a port a local service uses; which ports those are is the
 * daemon's news, not this command's: no warnings here.
 */
export async function offlineFirewall(config: Config): Promise<Firewall> {
  // Never beside the daemon of another state dir, which owns the host's table.
  await claimFirewall(config, true);
  const firewall = makeFirewall({ ...config, trap_ports: (await usableTrapPorts(config, new Logger(() => undefined))).ports });
  try {
    await firewall.setup();
  } catch (e) {
    await firewall.close?.();
    throw unavailableError(`cannot set up the ${firewall.name} firewall: ${messageOf(e)}`);
  }
  return firewall;
}

/**
 * inetd mode's firewall, ready for this ban, or an IblockError saying why not:
 * it can be changed, its table is this state dir's (one iblock per host's
 * firewall, so never a running daemon's of another state dir), and is set up
 * when it is not there yet (the first hit on this host). Only nftables' table
 * is iblock's own to make, and checked in a millisecond; PF's is pf.conf's,
 * and listing it costs as much as it holds: there the answer to the ban
 * itself says enough.
 */
export async function inetdFirewall(config: Config, inetdPort: number | undefined, log: Logger): Promise<Firewall> {
  const firewall = makeFirewall(config);
  try {
    await readyForInetd(config, firewall, inetdPort, log);
  } catch (e) {
    await firewall.close?.();
    throw e;
  }
  return firewall;
}

async function readyForInetd(config: Config, firewall: Firewall, inetdPort: number | undefined, log: Logger): Promise<void> {
  if (config.firewall !== "nftables") return;
  let state: Integrity;
  try {
    // No daemon restores anything here: only whether it is there and answers.
    state = await firewall.check(() => 0);
  } catch (e) {
    throw unavailableError(`the ${firewall.name} firewall cannot be used as uid ${process.geteuid?.() ?? "?"}: ${messageOf(e)}`);
  }
  await claimTable(config, log, true);
  if (state === "intact") return;
  try {
    // Its kernel route must spare ports a local service uses.
    const ready = makeFirewall({ ...config, trap_ports: (await usableTrapPorts(config, log, inetdPort)).ports });
    try {
      await ready.setup();
    } finally {
      await ready.close?.();
    }
  } catch (e) {
    throw unavailableError(`cannot set up the ${firewall.name} firewall: ${messageOf(e)}`);
  }
  log.info(`set up the ${firewall.name} firewall`);
}
