import type { Socket } from "node:net";
import { openPipeline, type Pipeline } from "./bans/pipeline.js";
import type { Config } from "./config.js";
import { EX_OK, EX_UNAVAILABLE, IblockError } from "./errors.js";
import { timeoutLeft, type Firewall } from "./firewall/firewall.js";
import type { Logger } from "./log.js";
import { formatPrefix, parsePrefix, peerPrefix, type Prefix } from "./net/address.js";
import { policyFor } from "./policy/policy.js";
import type { Store } from "./store/store.js";

// How long a ban the firewall refused is retried: nothing retries it once this process is gone.
const RETRY_MS = 2_000;

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

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
async function banAndRecord(pipeline: Pipeline, prefix: Prefix, log: Logger): Promise<number> {
  const { store, firewall, queue } = pipeline;
  await putBackStoredBan(store, firewall, prefix, log);
  // Its retries end with this process: one line at the end says how it went, not one per try.
  queue.quietRetries = true;
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
  let pipeline: Pipeline;
  try {
    // The firewall made ready before the store: a ban it cannot take is never recorded.
    pipeline = await openPipeline(config, log, { mode: "inetd", inetdPort });
  } catch (e) {
    log.error(`not blocking ${formatPrefix(prefix)}: ${messageOf(e)}`);
    return e instanceof IblockError ? e.exitCode : EX_UNAVAILABLE;
  }
  try {
    return await banAndRecord(pipeline, prefix, log);
  } finally {
    await pipeline.close();
  }
}
