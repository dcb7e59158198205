import type { Socket } from "node:net";
import { aggregationFor, BanQueue } from "./bans/queue.js";
import type { Config } from "./config.js";
import { EX_OK, EX_UNAVAILABLE, IblockError, unavailableError } from "./errors.js";
import { timeoutLeft, type Firewall, type Integrity } from "./firewall/firewall.js";
import { claimFirewall } from "./firewall/nft-owner.js";
import { makeFirewall } from "./firewall/registry.js";
import type { Logger } from "./log.js";
import { formatPrefix, parsePrefix, peerPrefix, type Prefix } from "./net/address.js";
import { policyFor } from "./policy/policy.js";
import { Store } from "./store/store.js";
import { banRulesFor } from "./bans/rules.js";
import { openOwnStore } from "./own-store.js";
import { usableTrapPorts } from "./trap/served-ports.js";

// How long a ban the firewall refused is retried: nothing retries it once this process is gone.
const RETRY_MS = 2_000;

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The store, made as the daemon makes it (0750, 0640, its group); in memory when state_dir cannot be used. */
async function openStore(config: Config, log: Logger): Promise<Store> {
  try {
    return await openOwnStore(config);
  } catch (e) {
    // An unprivileged _iblock may not write state_dir: ban all the same, and say that nothing is recorded.
    log.warn(`not recording this ban: ${messageOf(e)}`);
    return new Store(":memory:");
  }
}

/**
 * The firewall ready for this ban, or an IblockError saying why not: it can
 * be changed, its table is this state dir's (one iblock per host's firewall,
 * so never a running daemon's of another state dir), and is set up when it is
 * not there yet (the first hit on this host). Only nftables' table is
 * iblock's own to make, and checked in a millisecond; PF's is pf.conf's, and
 * listing it costs as much as it holds: there the answer to the ban itself
 * says enough.
 */
async function readyFirewall(config: Config, firewall: Firewall, inetdPort: number | undefined, log: Logger): Promise<void> {
  if (config.firewall !== "nftables") return;
  let state: Integrity;
  try {
    // No daemon restores anything here: only whether it is there and answers.
    state = await firewall.check(() => 0);
  } catch (e) {
    throw unavailableError(`the ${firewall.name} firewall cannot be used as uid ${process.geteuid?.() ?? "?"}: ${messageOf(e)}`);
  }
  const from = await claimFirewall(config, true);
  if (from) log.warn(`the nftables table was last used by the iblock with state_dir ${from}, which no longer runs: this one takes it over, with the bans it holds`);
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

/**
 * A peer the store says is banned reached the trap. Either the firewall lost
 * that ban (a reboot, nftables.service's flush ruleset; no daemon here puts
 * stored bans back) or the peer's other connections of the same scan were
 * already on their way when the first one-shot banned it: the ban is put (back)
 * into the firewall for the time it has left, which changes nothing in the
 * second case. The hit itself is then counted as usual.
 */
async function putBackStoredBan(store: Store, firewall: Firewall, prefix: Prefix, log: Logger): Promise<void> {
  const row = store.openBan(prefix) ?? store.coveringBan(prefix);
  if (!row) return;
  const banned = parsePrefix(row.prefix);
  try {
    await firewall.add([{ prefix: banned, timeoutSec: timeoutLeft(row.expires_at) }]);
    // An unban that came meanwhile (its element removed before our add) must not be undone.
    if (!store.isBanned(banned)) await firewall.remove([banned]);
    else log.info(`${formatPrefix(banned)} is banned in the store and reached the trap: its ban is put (back) into the firewall`);
  } catch (e) {
    // Under inetd stderr is the scanner's socket: every word goes to syslog, and the hit is still counted.
    log.error(`could not put the stored ban of ${formatPrefix(banned)} back into the firewall: ${messageOf(e)}`);
  }
}

/** Recorded and in the firewall, or recorded as not banned when the firewall refused it: the store never claims a ban that is not there. */
async function banAndRecord(config: Config, firewall: Firewall, prefix: Prefix, log: Logger): Promise<number> {
  const store = await openStore(config, log);
  await putBackStoredBan(store, firewall, prefix, log);
  const queue = new BanQueue(store, firewall, log, banRulesFor(config), aggregationFor(config));
  // Its retries end with this process: one line at the end says how it went, not one per try.
  queue.quietRetries = true;
  try {
    const refused = await queue.ban({ prefix, source: "inetd" }).then(
      () => undefined,
      (e: unknown) => messageOf(e),
    );
    // The queue retries a refusal (a busy firewall) for a while; the kill of the peer's states finishes too.
    const applied = (await queue.drain(refused === undefined ? 5_000 : RETRY_MS)) || refused === undefined;
    if (applied) return EX_OK;
    store.endBan(prefix, { kind: "refused", reason: `not banned: the firewall refused it (${refused})` });
    log.error(`could not ban ${formatPrefix(prefix)}: the ${firewall.name} firewall refused it (${refused}); recorded as not banned`);
    return EX_UNAVAILABLE;
  } finally {
    queue.close();
    store.close();
  }
}

/**
 * The original's way: inetd accepted a connection on the trap port and runs
 * us with it on fd 0. Ban the peer, kill its states, log to syslog, exit.
 * Nothing is written to stdout or stderr: both are the scanner's socket.
 */
export async function runInetd(socket: Socket, config: Config, log: Logger): Promise<number> {
  const remote = socket.remoteAddress;
  // Where inetd accepted it (listen_port after a redirect): inetd holds that port for us.
  const inetdPort = socket.localPort;
  socket.destroy();
  const peer = peerPrefix(remote);
  if (!peer) {
    log.warn("lost trap hit: the peer reset the connection before iblock ran (getpeername failed)");
    return EX_OK;
  }
  const policy = policyFor(config);
  const prefix = policy.forHit(peer);
  if (!prefix) {
    log.info(`not blocking ${formatPrefix(peer)}: it is in the allow list`);
    return EX_OK;
  }
  const firewall = makeFirewall(config);
  try {
    // Before the store: a ban the firewall cannot take is never recorded.
    try {
      await readyFirewall(config, firewall, inetdPort, log);
    } catch (e) {
      log.error(`not blocking ${formatPrefix(prefix)}: ${messageOf(e)}`);
      return e instanceof IblockError ? e.exitCode : EX_UNAVAILABLE;
    }
    return await banAndRecord(config, firewall, prefix, log);
  } finally {
    await firewall.close?.();
  }
}
