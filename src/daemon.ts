import type { Server } from "node:net";
import { HitJoiner } from "./bans/hit-join.js";
import { BanQueue } from "./bans/queue.js";
import type { Config } from "./config.js";
import { Operations } from "./control/operations.js";
import { startControlServer } from "./control/server.js";
import { unavailableError } from "./errors.js";
import type { Firewall } from "./firewall/firewall.js";
import { makeFirewall } from "./firewall/registry.js";
import type { Logger } from "./log.js";
import { formatPrefix } from "./policy/address.js";
import { allowListFor } from "./policy/allow.js";
import { formatDuration } from "./policy/duration.js";
import { policyFor, type Policy } from "./policy/policy.js";
import { banRulesFor, rowPrefix, Store } from "./store/store.js";
import { throttled, TrapListeners } from "./trap/listeners.js";
import { usableTrapPorts } from "./trap/served-ports.js";
import { systemdSockets } from "./trap/systemd.js";

// How often the kernel route's "seen" sets are read: bookkeeping only, the
// kernel has already dropped the scanner.
const KERNEL_DRAIN_MS = 250;
// Expired bans are closed this often (nftables expires its own elements; PF relies on this).
const EXPIRY_MS = 1_000;
const PRUNE_MS = 6 * 3_600_000;
const DAY_MS = 86_400_000;

/** Keys that can change only with a restart. */
const FIXED_KEYS = ["state_dir", "firewall", "command_prefix", "pfctl"] as const;

/**
 * The running daemon: the parts that live as long as the process (store,
 * queue, control socket) and the parts a reloaded config replaces (firewall
 * options, policy, listeners).
 */
class Daemon {
  private config: Config;
  private trapPorts: number[] = [];
  private readonly store: Store;
  private readonly queue: BanQueue;
  private readonly policy: Policy;
  private listeners: TrapListeners | undefined;
  private control: Server | undefined;
  /** One pending timer and the tick in flight, per periodic job. */
  private readonly jobs = new Map<string, { timer?: NodeJS.Timeout; running?: Promise<void> }>();
  private stopped = false;
  /** Sockets systemd passed us, read once: they outlive reloads. */
  private readonly activated = systemdSockets();
  /** A listener hit and the kernel's report of the same connection are one hit, with its port. */
  private readonly hits: HitJoiner;

  constructor(
    config: Config,
    private readonly log: Logger,
  ) {
    this.config = config;
    this.store = new Store(config.database);
    this.policy = policyFor(config);
    this.queue = new BanQueue(this.store, makeFirewall(config), log, banRulesFor(config), config.aggregate_ipv4);
    this.hits = new HitJoiner((req, count) => this.queue.submit(req, count));
  }

  private get firewall(): Firewall {
    return this.queue.firewall;
  }

  private get kernelRoute(): boolean {
    return this.config.kernel_route && this.firewall.drainKernelHits !== undefined;
  }

  /** Build everything a config decides, bind, set up the firewall. */
  private async apply(config: Config): Promise<void> {
    this.trapPorts = await usableTrapPorts(config, this.log);
    const firewall = makeFirewall({ ...config, trap_ports: this.trapPorts });
    await firewall.setup().catch((e: Error) => {
      throw unavailableError(`cannot set up the ${firewall.name} firewall: ${e.message}`);
    });
    const old = this.firewall;
    this.queue.firewall = firewall;
    if (this.listeners) {
      await old.close?.();
      // The new backend has not seen the seen sets: read them once without counting again.
      if (this.kernelRoute) await firewall.drainKernelHits?.().catch(() => []);
    }
    this.queue.rules = banRulesFor(config);
    this.queue.aggregateIpv4 = config.aggregate_ipv4;
    this.policy.update(allowListFor(config), { ipv4: config.ipv4_prefix, ipv6: config.ipv6_prefix });
    const changed =
      config.listen !== this.config.listen ||
      config.listen_port !== this.config.listen_port ||
      String(config.listen_addresses) !== String(this.config.listen_addresses) ||
      String(config.trap_ports) !== String(this.config.trap_ports);
    // systemd's sockets are bound once, by systemd: never closed or re-bound here.
    const rebind = !this.listeners || (changed && this.activated.length === 0);
    if (this.listeners && this.activated.length && String(config.trap_ports) !== String(this.config.trap_ports)) {
      this.log.warn("trap ports come from systemd's sockets: change them in iblock.socket");
    }
    this.config = config;
    if (rebind) await this.bind();
    await this.unbanAllowed();
  }

  private async bind(): Promise<void> {
    await this.listeners?.close();
    const c = this.config;
    const listeners = new TrapListeners(this.log, (peer, port) => {
      const prefix = this.policy.forHit(peer);
      // Behind a redirect only the kernel route's report knows the trap port.
      if (prefix) this.hits.listenerHit(prefix, port, this.kernelRoute);
    });
    this.listeners = listeners;
    if (this.activated.length) {
      // systemd bound the trap ports for us (iblock.socket): no need for CAP_NET_BIND_SERVICE.
      for (const fd of this.activated) listeners.adopt({ fd });
    } else if (c.listen === "direct") {
      for (const port of this.trapPorts) for (const host of c.listen_addresses) await listeners.listen(host, port, true);
    } else {
      let bound = false;
      for (const host of c.listen_addresses) bound = (await listeners.listen(host, c.listen_port, false)) || bound;
      if (!bound) throw unavailableError(`cannot listen on redirect port ${c.listen_port}`);
    }
  }

  /** A change of `allow` unbans what it now covers. */
  private async unbanAllowed(): Promise<void> {
    for (const row of this.store.activeBans()) {
      const p = rowPrefix(row);
      const why = this.policy.allow.describe(p);
      if (why) await this.queue.unban(p, "allowed").catch((e: Error) => this.log.warn(`unban ${formatPrefix(p)}: ${e.message}`));
    }
  }

  private every(ms: number, job: () => Promise<unknown>, what: string): void {
    const warn = throttled(30_000, (msg) => this.log.warn(msg));
    const state: { timer?: NodeJS.Timeout; running?: Promise<void> } = {};
    this.jobs.set(what, state);
    const tick = (): void => {
      state.running = job()
        .then(() => undefined)
        .catch((e: Error) => warn(`${what}: ${e.message}`))
        .finally(() => {
          state.running = undefined;
          if (!this.stopped) state.timer = setTimeout(tick, ms);
        });
    };
    state.timer = setTimeout(tick, ms);
  }

  private async drainKernel(): Promise<void> {
    if (!this.kernelRoute) {
      this.hits.tick(); // held hits of before a reload that turned the kernel route off
      return;
    }
    const hits = (await this.firewall.drainKernelHits?.()) ?? [];
    for (const hit of hits) {
      const prefix = this.policy.forHit(hit.prefix);
      if (prefix) this.hits.kernelHit(prefix, hit.port, hit.syn);
    }
    this.hits.tick();
  }

  private async reconcile(why: string): Promise<{ restored: number } | undefined> {
    // At start and on SIGHUP the firewall is listed whatever: what the kernel made while we
    // were not looking is adopted, and what is missing (a renamed table) put back.
    const r = await this.queue.reconcile(why !== "timer");
    // Defined only when the cheap check failed (or at start): the rules were recreated.
    if (r) {
      // The timer only gets here when the cheap check failed: the rules were recreated, a repair.
      const changed = why === "timer" || r.restored + r.removed + r.adopted > 0;
      const counts = `${r.restored} ban(s) put back, ${r.removed} removed, ${r.adopted} adopted`;
      if (why === "start") this.log.info(`checked the firewall (start): rules and sets in place, ${counts}`);
      else if (changed) this.log.info(`repaired the firewall (${why}): rules and sets in place, ${counts}`);
      else this.log.info(`checked the firewall (${why}): in place, nothing to repair`);
    }
    return r;
  }

  private prune(): Promise<void> {
    const r = this.store.prune(Date.now() - this.config.history_days * DAY_MS);
    if (r.events || r.bans) this.log.info(`pruned ${r.events} event(s) and ${r.bans} ended ban(s) older than ${this.config.history_days} days`);
    return Promise.resolve();
  }

  async start(): Promise<void> {
    await this.apply(this.config);
    // Hits the kernel made while we were down count (a returning offender's
    // new ban must not be taken for a stale one); then the firewall and the
    // store are made to agree, which also puts every stored ban back.
    await this.drainKernel().catch((e: Error) => this.log.warn(`reading the kernel route's hits: ${e.message}`));
    await this.queue.drain(10_000);
    const restored = (await this.reconcile("start").catch((e: Error) => this.log.warn(`reconcile at start: ${e.message}`)))?.restored ?? 0;
    this.control = await startControlServer(this.config.control_socket, new Operations(this.store, this.queue, this.policy), this.log);
    this.every(KERNEL_DRAIN_MS, () => this.drainKernel(), "reading the kernel route's hits");
    this.every(EXPIRY_MS, () => this.queue.expire(), "expiring bans");
    this.every(this.config.reconcile_interval, () => this.reconcile("timer"), "checking the firewall");
    this.every(PRUNE_MS, () => this.prune(), "pruning the store");
    void this.prune();
    const c = this.config;
    this.log.info(
      `ready (firewall ${this.firewall.name}, ${this.trapPorts.length} trap ports, listen ${c.listen}` +
        `${c.listen === "redirect" ? ` on ${c.listen_port}` : ""}, kernel route ${this.kernelRoute ? "on" : "off"}, ` +
        `ban_time ${formatDuration(c.ban_time)}, ${this.store.stats().active} ban(s) in force, ${restored} put back into the firewall)`,
    );
  }

  /** SIGHUP: re-read the config; a bad one is refused and the old one kept. */
  async reload(load: () => Config): Promise<void> {
    let next: Config;
    try {
      next = load();
    } catch (e) {
      this.log.error(`SIGHUP: keeping the old config: ${(e as Error).message}`);
      await this.reconcile("SIGHUP");
      return;
    }
    for (const key of FIXED_KEYS) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.config[key])) {
        this.log.warn(`SIGHUP: "${key}" changes only with a restart; keeping ${JSON.stringify(this.config[key])}`);
        (next as unknown as Record<string, unknown>)[key] = this.config[key];
      }
    }
    const old = this.config;
    try {
      await this.apply(next);
      this.log.info(`SIGHUP: config reloaded from ${next.source} (${this.trapPorts.length} trap ports)`);
    } catch (e) {
      this.log.error(`SIGHUP: could not apply the new config, going back to the old one: ${(e as Error).message}`);
      // Half applied (say the new redirect port would not bind): put the old one back whole.
      await this.apply(old).catch((e2: Error) => this.log.error(`SIGHUP: the old config failed too: ${e2.message}`));
    }
    await this.reconcile("SIGHUP");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    await Promise.all([...this.jobs.values()].flatMap((j) => (j.running ? [j.running] : [])));
    await this.listeners?.close();
    if (this.control) await new Promise<void>((r) => this.control?.close(() => r()));
    if (!(await this.queue.drain(5_000))) this.log.warn("stopping with bans not yet in the firewall; they are stored and go back at the next start");
    this.queue.close();
    await this.firewall.close?.();
    this.store.close();
  }
}

/**
 * Run until SIGTERM or SIGINT. `reload` re-reads the config for SIGHUP.
 */
export async function runDaemon(config: Config, log: Logger, reload: () => Config = () => config): Promise<void> {
  if (config.syslog) log.enableSyslog({ socket: config.syslog_socket });
  // A daemon that dies is worse than one that logs a bug and goes on banning.
  process.on("uncaughtException", (e) => log.error(`unexpected: ${e.stack ?? String(e)}`));
  const daemon = new Daemon(config, log);
  let reloading = Promise.resolve();
  const onHup = (): void => {
    log.info("SIGHUP: reloading the config and re-syncing the firewall");
    // A failed reload must not poison the next one, nor the stop.
    reloading = reloading.then(() => daemon.reload(reload)).catch((e: Error) => log.error(`SIGHUP: ${e.message}`));
  };
  // Listening before start: a SIGTERM right after "ready" must stop us cleanly, not kill us.
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info(`${signal}: finishing the bans in flight and stopping`);
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  try {
    await daemon.start();
    process.on("SIGHUP", onHup);
    await stopRequested;
  } finally {
    process.off("SIGHUP", onHup);
    await reloading;
    await daemon.stop();
    await log.close();
  }
}
