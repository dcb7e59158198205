import type { Server } from "node:net";
import { HitJoiner } from "./bans/hit-join.js";
import { openPipeline, type Pipeline } from "./bans/pipeline.js";
import { claimTable } from "./bans/pipeline-firewall.js";
import { ReconcileLoop } from "./bans/reconcile-loop.js";
import type { Cluster } from "./cluster/cluster.js";
import type { Config } from "./config.js";
import { ToolBans } from "./control/tool-bans.js";
import { Operations } from "./control/operations.js";
import { startControlServer } from "./control/server.js";
import { configError, unavailableError } from "./errors.js";
import type { Firewall } from "./firewall/firewall.js";
import type { DaemonStatus } from "./control/operations.js";
import { exitOnFatal } from "./fatal.js";
import { Feeds } from "./feeds/feeds.js";
import { Jobs } from "./util/jobs.js";
import { LoopStall } from "./util/loop-stall.js";
import { StateLock } from "./state-lock.js";
import { checkStateFiles, DAEMON_UMASK, prepareStateDir, secureStateFiles } from "./state-dir.js";
import { makeFirewall } from "./firewall/registry.js";
import { describeForwards, listForwardedTrapPorts } from "./firewall/nft-forwards.js";
import type { HttpService } from "./http/server.js";
import { loadOptionalParts, type OptionalParts } from "./optional-parts.js";
import { Outbound } from "./outbound.js";
import type { Logger } from "./log.js";
import { formatPrefix, parsePrefix, prefixKey } from "./net/address.js";
import { ALWAYS_ALLOWED } from "./policy/allow.js";
import { formatDuration } from "./policy/duration.js";
import { keepRestartOnlyKeys } from "./reload-keys.js";
import { rowPrefix } from "./store/store.js";
import { KernelDrain } from "./trap/kernel-drain.js";
import { TrapListeners } from "./trap/listeners.js";
import { usableTrapPorts } from "./trap/served-ports.js";
import { ServedPortWatch } from "./trap/served-watch.js";
import { systemdSockets } from "./trap/systemd.js";
import { runUntilSignalled } from "./daemon-signals.js";
import { testHoldWarning } from "./test-hold.js";


// How often the listening sockets are read for a service that took a trap
// port. The firewall spares such a port's packets from the service's first
// client on; this only keeps the port out of the traps while the service
// restarts. Each read of /proc/net/tcp makes the kernel walk its table of
// connections up to the first one: 2.7 ms per file on a 24 GiB host with none.
const SERVED_CHECK_MS = 5_000;
/** The store's settings key for the ban lengths the firewall was last set up with. */
const BAN_LENGTHS = "ban_lengths";

/**
 * The running daemon: the parts that live as long as the process (pipeline,
 * control socket) and the parts a reloaded config replaces (firewall
 * options, policy, listeners).
 */
class Daemon {
  private config: Config;
  private servedWatch: ServedPortWatch | undefined;
  /** The trap ports the firewall holds (what setup or setTrapPorts last put there). */
  private appliedTrapPorts: readonly number[] = [];
  /** What the watch said, logged once the firewall holds it. */
  private readonly watchLines: string[] = [];
  private readonly loop: ReconcileLoop;
  private readonly kernel: KernelDrain;
  private state: "starting" | "running" = "starting";
  private listeners: TrapListeners | undefined;
  private control: Server | undefined;
  private readonly jobs: Jobs;
  /** How long the event loop was held up: nothing may hold it for long, whatever the size. */
  private readonly loopStall = new LoopStall();
  /** Sockets systemd passed us, read once: they outlive reloads. */
  private readonly activated = systemdSockets();
  /** A listener hit and the kernel's report of the same connection are one hit, with its port. */
  private readonly hits: HitJoiner;
  /** Published blocklists ([[feed]]). */
  private readonly feeds: Feeds;
  private readonly ops: Operations;
  /** [http]: metrics, API, blocklist, dashboard; undefined when off. */
  private readonly http: HttpService | undefined;
  /** With a [cluster] section: our bans to the fleet, the fleet's to us. */
  private readonly cluster: Cluster | undefined;
  /** [report] and [hooks]: abuse reports and hooks told of bans. */
  private readonly outbound: Outbound;

  /** The daemon and its pipeline; the reconciler reads the kernel's reports before it takes an element for unknown. */
  static async open(config: Config, log: Logger): Promise<Daemon> {
    const parts = await loadOptionalParts(config);
    // The kernel drain is the daemon's, made with it after the pipeline.
    const made: { daemon?: Daemon } = {};
    const settleReports = async (): Promise<void> => {
      await made.daemon?.kernel.drain();
      await made.daemon?.pipeline.queue.flushed();
    };
    made.daemon = new Daemon(config, log, parts, await openPipeline(config, log, { mode: "daemon", settleReports }));
    return made.daemon;
  }

  private constructor(
    config: Config,
    private readonly log: Logger,
    parts: OptionalParts,
    private readonly pipeline: Pipeline,
  ) {
    this.config = config;
    this.jobs = new Jobs((msg) => log.warn(msg));
    const { store, queue, policy } = pipeline;
    this.feeds = new Feeds(store, queue, policy, log, config.feed);
    this.ops = new Operations(store, queue, policy, this.config.ban_time, () => this.status(), this.feeds);
    this.ops.tools = new ToolBans(store, queue, policy, log);
    this.http = parts.HttpService
      ? new parts.HttpService(config.http, {
          store,
          queue,
          ops: this.ops,
          policy,
          log,
          state: () => this.describeState(),
          kernelRoute: () => this.kernelRoute,
          feeds: this.feeds.counters,
        })
      : undefined;
    this.cluster = config.cluster && parts.Cluster && new parts.Cluster(config.cluster, store, queue, policy, log, config.source);
    const cluster = this.cluster;
    this.outbound = new Outbound(config, store, queue.changes, log);
    // Bans and unbans from anywhere (peers, feeds, expiry, tools): the event loop is timed while they come.
    queue.changes.on(() => this.loopStall.working());
    this.ops.clusterView = cluster && (() => cluster.view());
    if (cluster && this.http) cluster.metrics.register(this.http.registry);
    this.hits = new HitJoiner((req, count) => {
      this.loopStall.working();
      queue.submit(req, count);
      this.http?.hit(req, count);
    });
    this.loop = new ReconcileLoop(pipeline, log, () => this.config, {
      claimTable: () => claimTable(this.config, log, false),
      reconciled: (outcome, detail) => this.http?.reconciled(outcome, detail),
      catchUp: cluster,
    });
    this.kernel = new KernelDrain({
      firewall: () => this.firewall,
      kernelRoute: () => this.kernelRoute,
      policy,
      hits: this.hits,
      log,
      drained: (hits, capacity, overflowed) => this.http?.kernelDrain(hits, capacity, overflowed),
      overflowed: () => this.loop.scanInBackground("report sets overflowed"),
    });
  }

  private describeState(): string {
    const p = this.pipeline.reconciler.progress;
    return p ? `starting: ${p.restored} of ${p.total} bans restored` : this.state;
  }

  private get firewall(): Firewall {
    return this.pipeline.firewall;
  }

  /** The trap ports now: the config's, less those a local service holds or took. */
  private get trapPorts(): number[] {
    return this.servedWatch?.trapPorts ?? [];
  }

  private get kernelRoute(): boolean {
    return this.config.kernel_route && this.firewall.can.kernelBans;
  }

  /** Build everything a config decides, bind, set up the firewall. */
  private async apply(config: Config): Promise<void> {
    const usable = await usableTrapPorts(config, this.log);
    // Ports a service took before a reload stay out, their wait going on (where iblock holds no trap port).
    const carry = config.listen === "redirect" && config.firewall === "nftables" ? this.servedWatch : undefined;
    this.servedWatch = new ServedPortWatch(config.trap_ports, usable.served, config.trap_again_after, carry);
    this.appliedTrapPorts = this.trapPorts;
    const made = makeFirewall({ ...config, trap_ports: this.trapPorts });
    const firewall = this.http ? this.http.instrument(made) : made;
    await this.setUp(firewall, config);
    // A drain, check or change still on the old firewall finishes before it is closed.
    await this.pipeline.reconfigure(config, firewall, () => Promise.all([this.kernel.idle(), this.loop.idle()]));
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

  /** The firewall's rules and sets, emptying the ban sets when the ban lengths changed. */
  private async setUp(firewall: Firewall, config: Config): Promise<void> {
    const { store } = this.pipeline;
    const lengths = `${config.ipv4_prefix},${config.ipv6_prefix}`;
    const before = store.setting(BAN_LENGTHS);
    const emptyBanSets = before !== undefined && before !== lengths;
    await firewall.setup({ emptyBanSets }).catch((e: Error) => {
      throw unavailableError(`cannot set up the ${firewall.name} firewall: ${e.message}`);
    });
    if (config.firewall === "nftables") {
      const forwards = await listForwardedTrapPorts(config.command_prefix, this.trapPorts);
      for (const line of forwards ? describeForwards(forwards) : []) this.log.warn(line);
    }
    if (emptyBanSets) {
      const [v4, v6] = before.split(",");
      this.log.warn(
        `ipv4_prefix/ipv6_prefix changed from ${v4}/${v6} to ${config.ipv4_prefix}/${config.ipv6_prefix}: ` +
          `the ban sets were emptied and every ban in force goes back into the set of its length; new bans take the new lengths`,
      );
      this.loop.restoreNeeded();
    }
    if (before !== lengths) {
      // Not written (a full disk): the next start empties the sets again, which costs only time.
      try {
        store.setSetting(BAN_LENGTHS, lengths);
      } catch (e) {
        this.log.warn(`cannot record the ban lengths in the store: ${(e as Error).message}`);
      }
    }
  }

  private async bind(): Promise<void> {
    await this.listeners?.close();
    const c = this.config;
    const listeners = new TrapListeners(this.log, (peer, port) => {
      const prefix = this.pipeline.policy.forHit(peer);
      // Behind a redirect only the kernel route's report knows the trap port.
      if (prefix) this.hits.listenerHit(prefix, port, this.kernelRoute);
    });
    this.listeners = listeners;
    if (this.activated.length) {
      // systemd bound the trap ports for us (iblock.socket): no need for CAP_NET_BIND_SERVICE.
      for (const fd of this.activated) listeners.adopt({ fd }, c.listen === "redirect" ? c.listen_port : undefined);
    } else if (c.listen === "direct") {
      let bound = 0;
      for (const port of this.trapPorts) for (const host of c.listen_addresses) if (await listeners.listen(host, port, true)) bound++;
      // A daemon that says "ready" must be listening: every port refused is no trap at all.
      if (bound === 0 && this.trapPorts.length > 0) throw configError(`listening on nothing: no trap port could be bound on ${c.listen_addresses.join(", ")} (see the lines above)`);
    } else {
      let bound = false;
      for (const host of c.listen_addresses) bound = (await listeners.listen(host, c.listen_port, false)) || bound;
      if (!bound) throw unavailableError(`cannot listen on redirect port ${c.listen_port}`);
    }
  }

  /**
   * The allow list unbans what it covers: the bans inside each allowed
   * network and the wider ones holding it, found by index, never by walking
   * every ban.
   */
  private async unbanAllowed(): Promise<void> {
    // Loopback and link-local are never banned in the first place.
    const always = new Set(ALWAYS_ALLOWED.map((a) => prefixKey(parsePrefix(a))));
    for (const allowed of this.pipeline.policy.allow.prefixes.filter((p) => !always.has(prefixKey(p)))) {
      for (const row of this.pipeline.store.activeOverlapping(allowed)) {
        const p = rowPrefix(row);
        await this.pipeline.queue.unban(p, "allowed").catch((e: Error) => this.log.warn(`unban ${formatPrefix(p)}: ${e.message}`));
      }
    }
  }

  private async watchServedPorts(): Promise<void> {
    const watch = this.servedWatch;
    if (!watch || this.config.listen !== "redirect" || this.config.firewall !== "nftables") return;
    const lines = await watch.check();
    // A reload meanwhile made a new watch (and set the trap ports from the config).
    if (watch !== this.servedWatch) return;
    this.watchLines.push(...lines);
    const ports = watch.trapPorts;
    if (String(ports) !== String(this.appliedTrapPorts)) {
      // Behind the other firewall calls; a failure is tried again at the next look.
      const firewall = this.firewall;
      await this.pipeline.queue.serial(() => firewall.setTrapPorts(ports));
      if (firewall === this.firewall) this.appliedTrapPorts = ports;
    }
    // Said once the firewall holds it: "a trap again" is true when it is read.
    for (const line of this.watchLines.splice(0)) this.log.info(line);
  }

  async start(): Promise<void> {
    this.loopStall.working();
    // The count of open bans is kept by the store's own writes: made exact once per start.
    this.pipeline.store.recountOpen();
    // First, so the CLI finds a daemon (starting) and never acts beside it.
    // A bad token or TLS file is refused before anything is bound.
    await this.http?.prepare();
    this.control = await startControlServer(this.config.control_socket, this.ops, this.log, () => this.loopStall.working());
    await this.http?.start();
    await claimTable(this.config, this.log, false);
    this.outbound.start();
    if (this.http) (await import("./metrics/outbound.js")).registerOutboundMetrics(this.http.registry, this.outbound);
    await this.apply(this.config);
    // From here the kernel route bans by itself, and listener hits queue.
    this.jobs.every(() => this.kernel.intervalMs(), () => this.kernel.drain(), "reading the kernel route's hits");
    await this.loop.start(this.jobs);
    // Where iblock holds no trap port, a service may take one later: it is taken out of the traps.
    this.jobs.every(SERVED_CHECK_MS, () => this.watchServedPorts(), "watching for services on trap ports");
    await this.feeds.start();
    await this.cluster?.start();
    this.state = "running";
    const c = this.config;
    this.log.info(
      `ready (firewall ${this.firewall.name}, ${this.trapPorts.length} trap ports, listen ${c.listen}` +
        `${c.listen === "redirect" ? ` on ${c.listen_port}` : ""}, kernel route ${this.kernelRoute ? "on" : "off"}, ` +
        `ban_time ${formatDuration(c.ban_time)}, ${this.pipeline.store.countActive()} ban(s) in force, ${this.loop.restoredAtStart} put back into the firewall)`,
    );
  }

  /** For `iblock stats`; the event loop's longest stall is since the last call. */
  private async status(): Promise<DaemonStatus> {
    const p = this.pipeline.reconciler.progress;
    const stallMs = this.loopStall.takeMax();
    const cluster = await this.cluster?.status();
    return { state: this.state, event_loop_max_ms: stallMs, ...(p ? { restoring: p } : {}), ...(cluster ? { cluster } : {}), ...this.outbound.status() };
  }

  /** SIGHUP: re-read the config; a bad one is refused and the old one kept. */
  async reload(load: () => Config): Promise<void> {
    let next: Config;
    try {
      next = keepRestartOnlyKeys(load(), this.config, this.log);
    } catch (e) {
      this.log.error(`SIGHUP: keeping the old config: ${(e as Error).message}`);
      return;
    }
    const old = this.config;
    try {
      await this.apply(next);
      this.log.info(`SIGHUP: config reloaded from ${next.source} (${this.trapPorts.length} trap ports)`);
      await this.feeds.reload(next.feed).catch((e: Error) => this.log.warn(`SIGHUP: feeds: ${e.message}`));
    } catch (e) {
      this.log.error(`SIGHUP: could not apply the new config, going back to the old one: ${(e as Error).message}`);
      // Half applied (say the new redirect port would not bind): put the old one back whole.
      await this.apply(old).catch((e2: Error) => this.log.error(`SIGHUP: the old config failed too: ${e2.message}`));
    }
    await this.loop.afterReload();
  }

  async stop(): Promise<void> {
    // No retry or scan starts from here; the ones in flight are awaited below.
    const loopStopped = this.loop.stop();
    await this.jobs.stop();
    await this.feeds.stop();
    await loopStopped;
    this.loopStall.stop();
    await this.listeners?.close();
    if (this.control) await new Promise<void>((r) => this.control?.close(() => r()));
    await this.http?.stop();
    if (!(await this.pipeline.drain(5_000))) this.log.warn("stopping with bans not yet in the firewall; they are stored and go back at the next start");
    await this.cluster?.stop();
    await this.outbound.stop(2_000);
    await this.pipeline.close();
  }
}


/**
 * Run until SIGTERM or SIGINT. `reload` re-reads the config for SIGHUP.
 */
export async function runDaemon(config: Config, log: Logger, reload: () => Config = () => config): Promise<void> {
  // Before anything else: files we make are not for every local user, and one daemon per state dir.
  process.umask(DAEMON_UMASK);
  const gid = await prepareStateDir(config);
  checkStateFiles(config.state_dir);
  const lock = StateLock.take(config.state_dir);
  try {
    await runLocked(config, log, reload, gid);
  } finally {
    lock.release();
  }
}

async function runLocked(config: Config, log: Logger, reload: () => Config, gid: number | undefined): Promise<void> {
  if (config.syslog) log.enableSyslog({ socket: config.syslog_socket });
  exitOnFatal(log);
  const held = testHoldWarning();
  if (held) log.warn(held);
  const daemon = await Daemon.open(config, log);
  secureStateFiles(config, gid);
  try {
    await runUntilSignalled(daemon, log, reload);
  } finally {
    await log.close();
  }
}
