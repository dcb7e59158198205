import type { Server } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { HitJoiner } from "./bans/hit-join.js";
import { aggregationFor, BanQueue } from "./bans/queue.js";
import { Reconciler } from "./bans/reconciler.js";
import type { Cluster } from "./cluster/cluster.js";
import type { Config } from "./config.js";
import { Operations } from "./control/operations.js";
import { startControlServer } from "./control/server.js";
import { configError, unavailableError } from "./errors.js";
import { claimFirewall } from "./firewall/nft-owner.js";
import type { Firewall, KernelHit } from "./firewall/firewall.js";
import type { DaemonStatus } from "./control/operations.js";
import { exitOnFatal } from "./fatal.js";
import { Feeds } from "./feeds/feeds.js";
import { Jobs } from "./util/jobs.js";
import { StateLock } from "./state-lock.js";
import { checkStateFiles, DAEMON_UMASK, prepareStateDir, secureStateFiles } from "./state-dir.js";
import { makeFirewall } from "./firewall/registry.js";
import { REPORT_SET_SIZE } from "./firewall/nft-ruleset.js";
import { describeForwards, listForwardedTrapPorts } from "./firewall/nft-forwards.js";
import type { HttpService } from "./http/server.js";
import type { Logger } from "./log.js";
import { formatPrefix, parsePrefix, prefixKey } from "./net/address.js";
import { ALWAYS_ALLOWED, allowListFor } from "./policy/allow.js";
import { formatDuration } from "./policy/duration.js";
import { policyFor, policyLengths, type Policy } from "./policy/policy.js";
import { rowPrefix, Store } from "./store/store.js";
import { banRulesFor } from "./bans/rules.js";
import { TrapListeners } from "./trap/listeners.js";
import { usableTrapPorts } from "./trap/served-ports.js";
import { ServedPortWatch } from "./trap/served-watch.js";
import { systemdSockets } from "./trap/systemd.js";
import { testHold, testHoldWarning } from "./test-hold.js";
import { Backoff } from "./util/backoff.js";
import { Serial } from "./util/serial.js";

// How often the kernel route's "seen" sets are read. The kernel has already
// dropped the scanner here; the fleet learns of it only then (at 250 ms the
// fleet bench's p99 passed 200 ms); an idle daemon uses 3.6% of a core, not 2%.
const KERNEL_DRAIN_MS = 100;
// The start's scan of the ban sets waits this long after the restore.
const START_SCAN_DELAY_MS = 2_000;
// Expired bans are closed this often (nftables expires its own elements; PF relies on this).
const EXPIRY_MS = 1_000;
const PRUNE_MS = 6 * 3_600_000;
// How often the listening sockets are read for a service that took a trap port.
const SERVED_CHECK_MS = 2_000;
const DAY_MS = 86_400_000;
// How often the event loop's delay is sampled.
const LOOP_TICK_MS = 10;
// A failed restore is tried again after this long, doubling up to reconcile_interval.
const RESTORE_RETRY_MS = 1_000;

/** The store's settings key for the ban lengths the firewall was last set up with. */
const BAN_LENGTHS = "ban_lengths";

/** Keys that can change only with a restart. */
// ipv4_prefix/ipv6_prefix: the keyed ban sets hold networks of that length, so a
// change moves every ban in force; done at start, where the restore does it anyway.
export const FIXED_KEYS = ["state_dir", "firewall", "command_prefix", "pfctl", "ipv4_prefix", "ipv6_prefix", "http", "cluster"] as const;

/** What a SIGHUP keeps of a key that changes only with a restart: a section is named, not dumped. */
function restartOnly(key: (typeof FIXED_KEYS)[number], kept: unknown): string {
  if (key === "http" || key === "cluster") {
    const running = key === "http" ? (kept as { enabled?: boolean } | undefined)?.enabled === true : kept !== undefined;
    return `the [${key}] section changes only with a restart; the daemon goes on ${running ? `with the [${key}] it started with` : `without [${key}]`}`;
  }
  return `"${key}" changes only with a restart; keeping ${JSON.stringify(kept)}`;
}

/**
 * The parts a config may leave out, loaded only when it asks for them: fastify,
 * prom-client and ioredis cost a daemon without [http] or [cluster] about
 * 150 ms of its start and memory it has no use for.
 */
interface OptionalParts {
  HttpService?: typeof HttpService;
  Cluster?: typeof Cluster;
}

async function loadOptionalParts(config: Config): Promise<OptionalParts> {
  return {
    HttpService: config.http.enabled ? (await import("./http/server.js")).HttpService : undefined,
    Cluster: config.cluster ? (await import("./cluster/cluster.js")).Cluster : undefined,
  };
}

/**
 * The running daemon: the parts that live as long as the process (store,
 * queue, control socket) and the parts a reloaded config replaces (firewall
 * options, policy, listeners).
 */
class Daemon {
  private config: Config;
  private servedWatch: ServedPortWatch | undefined;
  /** The trap ports the firewall holds (what setup or setTrapPorts last put there). */
  private appliedTrapPorts: readonly number[] = [];
  /** What the watch said, logged once the firewall holds it. */
  private readonly watchLines: string[] = [];
  private readonly store: Store;
  private readonly queue: BanQueue;
  private readonly reconciler: Reconciler;
  private readonly policy: Policy;
  /** Set until every stored ban is in the firewall: at start, and after a failed restore. */
  private needsRestore = true;
  private readonly restoreRetry: Backoff;
  private restoredAtStart = 0;
  private stopping = false;
  private state: "starting" | "running" = "starting";
  private listeners: TrapListeners | undefined;
  private control: Server | undefined;
  private readonly jobs: Jobs;
  /** How long the event loop was held up: nothing may hold it for long, whatever the size. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_TICK_MS });
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

  constructor(
    config: Config,
    private readonly log: Logger,
    parts: OptionalParts,
  ) {
    this.config = config;
    this.restoreRetry = new Backoff(RESTORE_RETRY_MS, config.reconcile_interval);
    this.jobs = new Jobs((msg) => log.warn(msg));
    this.store = new Store(config.database);
    this.policy = policyFor(config);
    this.queue = new BanQueue(this.store, makeFirewall(config), log, banRulesFor(config), aggregationFor(config));
    this.reconciler = new Reconciler(
      this.store,
      this.queue,
      log,
      async () => {
        await this.drainKernel();
        await this.queue.flushed();
      },
      (p) => this.policy.allow.match(p) !== undefined,
    );
    this.feeds = new Feeds(this.store, this.queue, this.policy, log, config.feed);
    this.ops = new Operations(this.store, this.queue, this.policy, this.config.ban_time, () => this.status(), this.feeds);
    this.http = parts.HttpService
      ? new parts.HttpService(config.http, {
          store: this.store,
          queue: this.queue,
          ops: this.ops,
          policy: this.policy,
          log,
          state: () => this.describeState(),
          kernelRoute: () => this.kernelRoute,
          feeds: this.feeds.counters,
        })
      : undefined;
    this.cluster = config.cluster && parts.Cluster && new parts.Cluster(config.cluster, this.store, this.queue, this.policy, log, config.source);
    const cluster = this.cluster;
    this.ops.clusterView = cluster && (() => cluster.view());
    if (cluster && this.http) cluster.metrics.register(this.http.registry);
    this.hits = new HitJoiner((req, count) => {
      this.queue.submit(req, count);
      this.http?.hit(req, count);
    });
  }

  private describeState(): string {
    const p = this.reconciler.progress;
    return p ? `starting: ${p.restored} of ${p.total} bans restored` : this.state;
  }

  private get firewall(): Firewall {
    return this.queue.firewall;
  }

  /** The trap ports now: the config's, less those a local service holds or took. */
  private get trapPorts(): number[] {
    return this.servedWatch?.trapPorts ?? [];
  }

  private get kernelRoute(): boolean {
    return this.config.kernel_route && this.firewall.can.kernelBans;
  }

  /** The host's firewall is this daemon's, or it stops here naming the iblock whose it is. */
  private async claimTable(): Promise<void> {
    const from = await claimFirewall(this.config);
    if (from) this.log.warn(`the nftables table was last used by the iblock with state_dir ${from}, which no longer runs: this one takes it over, with the bans it holds`);
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
    const lengths = `${config.ipv4_prefix},${config.ipv6_prefix}`;
    const before = this.store.setting(BAN_LENGTHS);
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
      this.needsRestore = true;
    }
    if (before !== lengths) {
      // Not written (a full disk): the next start empties the sets again, which costs only time.
      try {
        this.store.setSetting(BAN_LENGTHS, lengths);
      } catch (e) {
        this.log.warn(`cannot record the ban lengths in the store: ${(e as Error).message}`);
      }
    }
    const old = this.firewall;
    this.queue.firewall = firewall;
    // The old backend deleted what it read of the report sets: the new one reads on from there.
    // A drain, check or change still on the old one finishes first: closed under it, it
    // failed with a spurious "nft session closed".
    if (this.listeners) {
      await Promise.all([this.drains.idle(), this.reconciling, this.queue.serial(() => Promise.resolve())]);
      await old.close?.();
    }
    this.queue.rules = banRulesFor(config);
    this.queue.aggregation = aggregationFor(config);
    this.policy.update(allowListFor(config), ...policyLengths(config));
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
    for (const allowed of this.policy.allow.prefixes.filter((p) => !always.has(prefixKey(p)))) {
      for (const row of this.store.activeOverlapping(allowed)) {
        const p = rowPrefix(row);
        await this.queue.unban(p, "allowed").catch((e: Error) => this.log.warn(`unban ${formatPrefix(p)}: ${e.message}`));
      }
    }
  }

  private every(ms: number, job: () => Promise<unknown>, what: string): void {
    this.jobs.every(ms, job, what);
  }

  private readonly drains = new Serial();

  /** One drain at a time: two would read the same reports before either deletes them. */
  private drainKernel(): Promise<void> {
    return this.drains.run(() => this.drainOnce());
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
      await this.queue.serial(() => firewall.setTrapPorts(ports));
      if (firewall === this.firewall) this.appliedTrapPorts = ports;
    }
    // Said once the firewall holds it: "a trap again" is true when it is read.
    for (const line of this.watchLines.splice(0)) this.log.info(line);
  }

  private async drainOnce(): Promise<void> {
    if (!this.kernelRoute) {
      this.hits.tick(); // held hits of before a reload that turned the kernel route off
      return;
    }
    const report = await this.firewall.drainKernelHits?.();
    if (!report) return;
    this.http?.kernelDrain(report.hits.length, REPORT_SET_SIZE, report.overflowed);
    this.count(report.hits);
    if (report.overflowed) {
      // A report set filled: drain again at once, and scan the ban sets for
      // the kernel's bans it could not report (they are adopted).
      this.log.warn(`the kernel route's report sets filled (${report.hits.length} hits at once); scanning the ban sets for the rest`);
      const again = await this.firewall.drainKernelHits?.();
      if (again) this.count(again.hits);
      this.scanInBackground("report sets overflowed");
    }
  }

  private count(hits: readonly KernelHit[]): void {
    for (const hit of hits) {
      const prefix = this.policy.forHit(hit.prefix);
      if (prefix) this.hits.kernelHit(prefix, hit.port, hit.syn);
    }
    this.hits.tick();
  }

  private scanning: Promise<void> | undefined;
  private scanTimer: NodeJS.Timeout | undefined;

  /** The start scan, after a catch-up under way and the same delay again (the set it loaded may be resizing). */
  private async scanAfterCatchUp(): Promise<void> {
    await testHold("start-scan", () => this.stopping);
    if (!this.cluster) return this.scanInBackground("start");
    // Said: an admin waiting for the scan's line sees why it comes late.
    if (this.cluster.catchingUp) this.log.info("the firewall scan at start waits for the catch-up from the fleet's snapshot under way");
    await this.cluster.caughtUp();
    this.scanTimer = setTimeout(() => this.scanInBackground("start"), START_SCAN_DELAY_MS);
    this.scanTimer.unref();
  }

  /** Compare the firewall with the store without holding up anything else (one at a time). */
  private scanInBackground(why: string): void {
    if (this.scanning || this.stopping) return;
    const started = Date.now();
    this.scanning = this.reconciler
      .scan()
      .then((r) => {
        {
          this.log.info(
            `scanned the firewall (${why}): ${r.held} element(s) in ${((Date.now() - started) / 1000).toFixed(1)} s, ${r.adopted} adopted, ${r.removed} removed, ${r.retimed} re-timed`,
          );
        }
      })
      .catch((e: Error) => this.log.warn(`scanning the firewall (${why}): ${e.message}`))
      .finally(() => (this.scanning = undefined));
  }

  /**
   * Make the firewall hold every stored ban. Cheap when nothing is wrong:
   * the backend's check, no listing. A restore that fails is tried again
   * with backoff until one succeeds.
   */
  private reconciling: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  /** One reconcile at a time: a timer tick or a SIGHUP while one runs joins it. */
  private reconcile(why: string): Promise<void> {
    this.reconciling ??= this.reconcileOnce(why).finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async reconcileOnce(why: string): Promise<void> {
    const fw = this.firewall;
    let integrity: Awaited<ReturnType<typeof fw.check>> | undefined;
    const started = Date.now();
    try {
      integrity = await fw.check(() => this.store.countActive());
      if (integrity === "intact" && !this.needsRestore) {
        this.http?.reconciled("intact");
        if (why !== "timer") this.log.info(`checked the firewall (${why}): in place, nothing to repair`);
        return;
      }
      this.needsRestore = true;
      if (integrity === "missing") {
        // The table went away with its owner mark: marked again, or this daemon learns whose it is now.
        await this.claimTable();
        await this.queue.serial(() => fw.setup());
      }
      const restored = await this.reconciler.restore();
      this.needsRestore = false;
      this.restoreRetry.reset();
      clearTimeout(this.retryTimer);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      this.http?.reconciled(why === "start" ? "restored" : "repaired", `${restored} ban(s) put back (${why})`);
      if (why === "start") this.restoredAtStart = restored;
      if (why === "start") this.log.info(`restored ${restored} ban(s) into the ${fw.name} firewall in ${took} s`);
      else this.log.info(`repaired the firewall (${why}): ${integrity === "missing" ? "rules and sets recreated, " : ""}${restored} ban(s) put back in ${took} s`);
    } catch (e) {
      // Tried again with backoff until one succeeds: one retry timer, never a pile of them.
      this.needsRestore = true;
      this.http?.reconciled("failed", (e as Error).message);
      this.restoreRetry.limit(this.config.reconcile_interval);
      const delay = this.restoreRetry.next();
      this.log.error(`could not ${integrity === undefined ? "check" : "restore the bans into"} the firewall (${why}), retrying in ${delay} ms: ${(e as Error).message}`);
      clearTimeout(this.retryTimer);
      if (this.stopping) return;
      this.retryTimer = setTimeout(() => void this.reconcile("retry"), delay);
      this.retryTimer.unref();
    }
  }


  /** In chunks, yielding between, so a large backlog never stalls the daemon. */
  private async prune(): Promise<void> {
    const before = Date.now() - this.config.history_days * DAY_MS;
    let events = 0;
    let bans = 0;
    for (;;) {
      const r = this.store.prune(before);
      events += r.events;
      bans += r.bans;
      if (r.events === 0 && r.bans === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (events || bans) this.log.info(`pruned ${events} event(s) and ${bans} ended ban(s) older than ${this.config.history_days} days`);
  }

  async start(): Promise<void> {
    this.loopDelay.enable();
    // The count of open bans is kept by the store's own writes: made exact once per start.
    this.store.recountOpen();
    // First, so the CLI finds a daemon (starting) and never acts beside it.
    // A bad token or TLS file is refused before anything is bound.
    await this.http?.prepare();
    this.control = await startControlServer(this.config.control_socket, this.ops, this.log);
    await this.http?.start();
    await this.claimTable();
    await this.apply(this.config);
    // From here the kernel route bans by itself, and listener hits queue.
    this.every(KERNEL_DRAIN_MS, () => this.drainKernel(), "reading the kernel route's hits");
    const fw = this.firewall;
    if (!fw.can.kernelBans) {
      // PF: what the table holds that the store does not (its overload rule's bans) is
      // adopted before the restore makes the table match the store.
      await this.reconciler.scan().catch((e: Error) => this.log.warn(`scanning the firewall at start: ${e.message}`));
      await this.queue.drain(10_000);
    }
    await this.reconcile("start").catch((e: Error) => this.log.warn(`reconcile at start: ${e.message}`));
    // nftables: the kernel's bans made while we were down are adopted, stale ones removed,
    // timeouts fixed, after the restore and without holding anything up.
    // A moment later: a set just loaded may still be resizing, and the kernel's
    // listing of a hash set that resizes can skip elements (seen here at 100,000).
    if (fw.can.kernelBans) {
      // After a catch-up from the fleet's snapshot under way by then: it loads the
      // firewall from the store (stored first, then loaded), so a listing meanwhile
      // finds nothing to fix and slows it down (a second of CPU at a million).
      this.scanTimer = setTimeout(() => void this.scanAfterCatchUp(), START_SCAN_DELAY_MS);
      this.scanTimer.unref();
    }
    this.every(EXPIRY_MS, () => this.queue.expire(), "expiring bans");
    this.every(this.config.reconcile_interval, () => this.reconcile("timer"), "checking the firewall");
    this.every(PRUNE_MS, () => this.prune(), "pruning the store");
    // Where iblock holds no trap port, a service may take one later: it is taken out of the traps.
    this.every(SERVED_CHECK_MS, () => this.watchServedPorts(), "watching for services on trap ports");
    void this.prune().catch((e: Error) => this.log.warn(`pruning the store: ${e.message}`));
    await this.feeds.start();
    this.cluster?.start();
    this.state = "running";
    const c = this.config;
    this.log.info(
      `ready (firewall ${this.firewall.name}, ${this.trapPorts.length} trap ports, listen ${c.listen}` +
        `${c.listen === "redirect" ? ` on ${c.listen_port}` : ""}, kernel route ${this.kernelRoute ? "on" : "off"}, ` +
        `ban_time ${formatDuration(c.ban_time)}, ${this.store.countActive()} ban(s) in force, ${this.restoredAtStart} put back into the firewall)`,
    );
  }

  /** For `iblock stats`; the event loop's longest stall is since the last call. */
  private async status(): Promise<DaemonStatus> {
    const p = this.reconciler.progress;
    // The histogram holds the times between its ticks, not how late they came:
    // a loop held 50 ms reads as 60. The tick is taken off.
    const stallMs = Math.max(0, Math.round((this.loopDelay.max / 1e6 - LOOP_TICK_MS) * 10) / 10);
    this.loopDelay.reset();
    const cluster = await this.cluster?.status();
    return { state: this.state, event_loop_max_ms: stallMs, ...(p ? { restoring: p } : {}), ...(cluster ? { cluster } : {}) };
  }

  /** SIGHUP: re-read the config; a bad one is refused and the old one kept. */
  async reload(load: () => Config): Promise<void> {
    let next: Config;
    try {
      next = load();
    } catch (e) {
      this.log.error(`SIGHUP: keeping the old config: ${(e as Error).message}`);
      return;
    }
    for (const key of FIXED_KEYS) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.config[key])) {
        this.log.warn(`SIGHUP: ${restartOnly(key, this.config[key])}`);
        (next as unknown as Record<string, unknown>)[key] = this.config[key];
      }
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
    await this.reconcile("SIGHUP");
    // What the kernel banned or lost meanwhile, compared without holding anything up.
    if (this.firewall.can.kernelBans) this.scanInBackground("SIGHUP");
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    await this.jobs.stop();
    await this.feeds.stop();
    await this.reconciling;
    this.loopDelay.disable();
    clearTimeout(this.scanTimer);
    await this.scanning;
    await this.listeners?.close();
    if (this.control) await new Promise<void>((r) => this.control?.close(() => r()));
    await this.http?.stop();
    if (!(await this.queue.drain(5_000))) this.log.warn("stopping with bans not yet in the firewall; they are stored and go back at the next start");
    await this.cluster?.stop();
    this.queue.close();
    await this.firewall.close?.();
    this.store.close();
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
  const daemon = new Daemon(config, log, await loadOptionalParts(config));
  secureStateFiles(config, gid);
  let started = false;
  let startOver: () => void = () => undefined;
  // Reloads wait for the start. The handler is in place before it: a SIGHUP
  // just after "ready" (or during a long start) found none once, and the
  // signal's default action killed the daemon.
  let reloading = new Promise<void>((r) => (startOver = r));
  // A reload already waiting to start reads the newest config anyway: signals
  // that come meanwhile join it, so a burst of SIGHUPs never piles up reloads.
  let reloadWaiting = false;
  const onHup = (): void => {
    if (reloadWaiting) return;
    reloadWaiting = true;
    log.info("SIGHUP: reloading the config and re-syncing the firewall");
    // A failed reload must not poison the next one, nor the stop.
    reloading = reloading
      .then(() => {
        reloadWaiting = false;
        return started ? daemon.reload(reload) : undefined;
      })
      .catch((e: Error) => log.error(`SIGHUP: ${e.message}`));
  };
  try {
    // Listening before start: a SIGTERM right after "ready" (or during a long start) stops cleanly.
    const stopSignal = new Promise<string>((resolve) => {
      process.once("SIGTERM", () => resolve("SIGTERM"));
      process.once("SIGINT", () => resolve("SIGINT"));
    });
    process.on("SIGHUP", onHup);
    await daemon.start();
    started = true;
    startOver();
    log.info(`${await stopSignal}: finishing the bans in flight and stopping`);
  } finally {
    startOver();
    process.off("SIGHUP", onHup);
    await reloading;
    await daemon.stop();
    await log.close();
  }
}
