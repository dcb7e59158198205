import type { Server } from "node:net";
import { BanQueue } from "./bans/queue.js";
import type { Config } from "./config.js";
import { Operations } from "./control/operations.js";
import { startControlServer } from "./control/server.js";
import { configError, unavailableError } from "./errors.js";
import type { Firewall } from "./firewall/firewall.js";
import { makeFirewall } from "./firewall/registry.js";
import type { Logger } from "./log.js";
import { prefixKey } from "./policy/address.js";
import { AllowList } from "./policy/allow.js";
import { Policy } from "./policy/policy.js";
import { Store } from "./store/store.js";
import { throttled, TrapListeners } from "./trap/listeners.js";
import { servedPorts } from "./trap/served-ports.js";
import { systemdSockets } from "./trap/systemd.js";

// How often the kernel route's "seen" sets are read: bookkeeping only, the
// kernel has already dropped the scanner.
const KERNEL_DRAIN_MS = 250;

/** Trap ports minus those a local service listens on (trapping them would ban its clients). */
async function usableTrapPorts(config: Config, log: Logger): Promise<number[]> {
  const served = await servedPorts();
  if (config.listen === "redirect" && served.has(config.listen_port)) {
    throw unavailableError(`listen_port ${config.listen_port} is in use by ${served.get(config.listen_port)}; pick another`);
  }
  const ports = config.trap_ports.filter((p) => {
    const who = served.get(p);
    if (who) log.warn(`trap port ${p} skipped: ${who} listens on it, and trapping it would ban its clients`);
    return !who;
  });
  if (ports.length === 0) throw configError(`every trap port is served by a local service; nothing to trap`);
  return ports;
}

/** Bans the kernel made while we were not running: adopt them, so they are logged and recorded. */
async function adoptFirewallBans(firewall: Firewall, store: Store, queue: BanQueue, log: Logger): Promise<void> {
  try {
    const held = await firewall.list();
    const known = new Set(store.activeBans().map((r) => r.prefix));
    const strangers = held.filter((p) => !known.has(prefixKey(p)));
    for (const prefix of strangers) queue.submit({ prefix, source: "kernel" });
    if (strangers.length) log.info(`adopting ${strangers.length} ban(s) found in the firewall`);
  } catch (e) {
    log.warn(`could not list the firewall's bans: ${(e as Error).message}`);
  }
}

function startKernelDrain(firewall: Firewall, policy: Policy, queue: BanQueue, log: Logger): () => void {
  const drain = firewall.drainKernelHits?.bind(firewall);
  if (!drain) return () => undefined;
  const warn = throttled(30_000, (msg) => log.warn(msg));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      for (const hit of await drain()) {
        const prefix = policy.forHit(hit.prefix);
        if (prefix) queue.submit({ prefix, port: hit.port, source: "kernel" });
      }
    } catch (e) {
      warn(`reading the kernel route's hits: ${(e as Error).message}`);
    }
    if (!stopped) timer = setTimeout(() => void tick(), KERNEL_DRAIN_MS);
  };
  // What the seen sets hold at start was counted by the daemon before us, or is
  // adopted from the ban sets: read it once without counting it again.
  void drain()
    .catch(() => [])
    .then(() => {
      if (!stopped) timer = setTimeout(() => void tick(), KERNEL_DRAIN_MS);
    });
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export async function runDaemon(config: Config, log: Logger): Promise<void> {
  if (config.syslog) log.enableSyslog({ socket: config.syslog_socket });
  // A daemon that dies is worse than one that logs a bug and goes on banning.
  process.on("uncaughtException", (e) => log.error(`unexpected: ${e.stack ?? String(e)}`));
  const trapPorts = await usableTrapPorts(config, log);
  const store = new Store(config.database);
  const firewall = makeFirewall({ ...config, trap_ports: trapPorts });
  const policy = new Policy(new AllowList(config.allow), { ipv4: config.ipv4_prefix, ipv6: config.ipv6_prefix });
  const queue = new BanQueue(store, firewall, log);

  try {
    await firewall.setup();
  } catch (e) {
    store.close();
    throw unavailableError(`cannot set up the ${firewall.name} firewall: ${(e as Error).message}`);
  }
  const restored = queue.restore();

  const kernelCounts = config.kernel_route && firewall.drainKernelHits !== undefined;
  const listeners = new TrapListeners(log, (peer, port) => {
    const prefix = policy.forHit(peer);
    // With the kernel route on, the kernel saw this connection too and counts it.
    if (prefix) queue.submit({ prefix, port, source: "trap" }, kernelCounts ? 0 : 1);
  });
  const activated = systemdSockets();
  if (activated.length) {
    // systemd bound the trap ports for us (iblock.socket): no need for CAP_NET_BIND_SERVICE.
    for (const fd of activated) listeners.adopt({ fd });
  } else if (config.listen === "direct") {
    for (const port of trapPorts) for (const host of config.listen_addresses) await listeners.listen(host, port, true);
  } else {
    let bound = false;
    for (const host of config.listen_addresses) bound = (await listeners.listen(host, config.listen_port, false)) || bound;
    if (!bound) throw unavailableError(`cannot listen on redirect port ${config.listen_port}`);
  }

  const control: Server = await startControlServer(config.control_socket, new Operations(store, queue, policy), log);
  const stopDrain = kernelCounts ? startKernelDrain(firewall, policy, queue, log) : () => undefined;
  void adoptFirewallBans(firewall, store, queue, log);

  log.info(
    `ready (firewall ${firewall.name}, ${trapPorts.length} trap ports, listen ${config.listen}` +
      `${config.listen === "redirect" ? ` on ${config.listen_port}` : ""}, kernel route ${kernelCounts ? "on" : "off"}, ${restored} ban(s) restored)`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info(`${signal}: finishing the bans in flight and stopping`);
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", () => {
      log.info("SIGHUP: re-syncing the firewall from the store");
      firewall
        .setup()
        .then(() => queue.restore())
        .catch((e: Error) => log.error(`re-sync failed: ${e.message}`));
    });
  });

  stopDrain();
  await listeners.close();
  await new Promise<void>((r) => control.close(() => r()));
  if (!(await queue.drain(5_000))) log.warn("stopping with bans not yet in the firewall; they are stored and go back at the next start");
  queue.close();
  await firewall.close?.();
  store.close();
  await log.close();
}
