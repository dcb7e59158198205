import { fstatSync } from "node:fs";
import { Socket } from "node:net";
import { aggregationFor, BanQueue } from "../bans/queue.js";
import type { Config } from "../config.js";
import { EX_OK, EX_UNAVAILABLE } from "../errors.js";
import { makeFirewall } from "../firewall/registry.js";
import type { Logger } from "../log.js";
import { formatPrefix, peerPrefix } from "../policy/address.js";
import { policyFor } from "../policy/policy.js";
import { checkStateDirPlace } from "../state-dir.js";
import { banRulesFor, Store } from "../store/store.js";
import { usableTrapPorts } from "./served-ports.js";

/**
 * The TCP connection inetd hands us as standard input, or undefined when
 * stdin is something else (a terminal, a file, a pipe from a shell or node).
 */
export function stdinTcpSocket(): Socket | undefined {
  try {
    if (!fstatSync(0).isSocket()) return undefined;
  } catch {
    return undefined;
  }
  const socket = new Socket({ fd: 0, readable: false, writable: false });
  // A unix socket has no TCP local port; a TCP one keeps it even after a reset.
  if (socket.localPort === undefined) {
    socket.destroy();
    return undefined;
  }
  return socket;
}

function openStore(config: Config): Store {
  try {
    checkStateDirPlace(config);
    return new Store(config.database);
  } catch {
    // An unprivileged _iblock may not write state_dir: ban all the same, record nothing.
    return new Store(":memory:");
  }
}

/**
 * The original's way: inetd accepted a connection on the trap port and runs
 * us with it on fd 0. Ban the peer, kill its states, log to syslog, exit.
 * Nothing is written to stdout or stderr: both are the scanner's socket.
 */
export async function runInetd(socket: Socket, config: Config, log: Logger): Promise<number> {
  const remote = socket.remoteAddress;
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
  const store = openStore(config);
  const firewall = makeFirewall(config);
  const queue = new BanQueue(store, firewall, log, banRulesFor(config), aggregationFor(config));
  try {
    // First try as is; if the firewall is not ready (no nftables table yet), set it up once.
    await queue.ban({ prefix, source: "inetd" }).catch(async () => {
      try {
        // Its kernel route must spare ports a local service uses.
        const ready = makeFirewall({ ...config, trap_ports: (await usableTrapPorts(config, log)).ports });
        await ready.setup();
        await ready.close?.();
      } catch (e) {
        log.error(`cannot set up the ${firewall.name} firewall: ${(e as Error).message}`);
      }
    });
    if (!(await queue.drain(5_000))) {
      log.error(`could not ban ${formatPrefix(prefix)}; ${store.isBanned(prefix) ? "it is recorded and the daemon will retry" : "not recorded"}`);
      return EX_UNAVAILABLE;
    }
    return EX_OK;
  } finally {
    queue.close();
    await firewall.close?.();
    store.close();
  }
}
