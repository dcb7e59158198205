import { formatPrefix, prefixKey, type Prefix } from "../net/address.js";
import type { Firewall } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import type { BanRow, EndKind, HitGroup, Store } from "../store/store.js";
import { ADOPTED, DEFAULT_RULES, hitPolicy, type BanRules } from "./rules.js";
import { Batcher } from "./batcher.js";
import type { BanChanges } from "./changes.js";
import { EarlyBans } from "./early-ban.js";
import { FirewallApplier } from "./firewall-applier.js";
import { Imports } from "./imports.js";
import { Widening, type Aggregation } from "./widening.js";
import { MAX_KEPT, StoreOutage } from "./store-outage.js";
import { testHold } from "../test-hold.js";
import type { BanRequest } from "./ban-request.js";


interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

// Callers waiting for their ban (CLI, inetd, control socket): a person's pace.
// More at once is a runaway client, refused rather than remembered.
export const MAX_WAITERS = 10_000;
// Sources recorded per store transaction (a few milliseconds of SQLite each ~100).
const FLUSH_MAX = 1_000;

/**
 * The road of trap hits and ban requests to the firewall. Requests are
 * deduplicated and recorded in the store first (so a ban survives a crash
 * before it reaches the firewall), then handed to the applier in batches.
 * While the store cannot be written, it bans all the same and keeps the hits.
 * (A listener hit's first ban on an idle firewall goes in before the store
 * records it, where a crash between loses nothing: see EarlyBans.)
 */
export class BanQueue {
  /**
   * Hits since the last batch. Bounded by what arrives while one batch is
   * applied: each flush takes all of it.
   */
  private readonly pending = new Map<string, HitGroup>();
  /** The firewall's side: every call to it, its retries, its log lines and change events. */
  readonly applier: FirewallApplier;
  /** Bulk loads (`iblock import`, feeds, a fleet's snapshot) and bulk removals. */
  readonly imports: Imports;
  /** Bans that make others wider or end them: a full set, aggregation, covered bans. */
  readonly widening: Widening;
  /** Every ban put in the firewall and every ban ended, as it happens (metrics, event stream, fleet). */
  readonly changes: BanChanges;
  private readonly outage: StoreOutage;
  /** The listener route's first bans, put in before the store records them. */
  private readonly early: EarlyBans;
  /** Hit batches the store refused since start (iblock_store_errors_total). */
  get storeErrors(): number {
    return this.outage.errors;
  }
  /** The last write to the store failed (it is tried again with each batch). */
  get storeFailing(): boolean {
    return this.outage.down;
  }
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly batcher: Batcher<null>;

  /**
   * `firewall`, `rules` and `aggregation` may be swapped on a config reload;
   * everything else lives as long as the daemon.
   */
  constructor(
    private readonly store: Store,
    firewall: Firewall,
    private readonly log: Logger,
    public rules: BanRules = DEFAULT_RULES,
    public aggregation: Aggregation = {},
  ) {
    this.batcher = new Batcher(() => this.flush(), (e) => this.log.error(`ban queue: ${String(e)}`));
    this.applier = new FirewallApplier(firewall, log, {
      settled: (key, error) => this.settle(key, error),
      setFull: (entries) => this.widening.setFull(entries),
      wake: () => this.batcher.submit(null),
      holds: (row) => this.early.holds(row),
    });
    this.changes = this.applier.changes;
    this.outage = new StoreOutage(this.applier, log);
    this.early = new EarlyBans(store, this.applier);
    this.widening = new Widening(store, this.applier, log, {
      rules: () => this.rules,
      aggregation: () => this.aggregation,
      submit: (req) => this.submit(req),
      settle: (key) => this.settle(key),
    });
    this.imports = new Imports(store, this.applier, this.widening, log);
  }

  get firewall(): Firewall {
    return this.applier.firewall;
  }

  set firewall(firewall: Firewall) {
    this.applier.firewall = firewall;
  }

  /** Refused bans retried without a line each time (the inetd one-shot says the outcome once). */
  set quietRetries(quiet: boolean) {
    this.applier.quietRetries = quiet;
  }

  /** Run a firewall call after the ones before it: the one way to the firewall. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    return this.applier.serial(op);
  }

  /**
   * Cheap and synchronous: safe to call for every connection of a storm.
   * `count` 0 asks for the ban without counting a hit (the kernel route
   * counts that connection already).
   */
  submit(req: BanRequest, count = 1): void {
    const key = prefixKey(req.prefix);
    let group = this.pending.get(key);
    if (!group) {
      group = { prefix: req.prefix, ports: new Map(), source: req.source, reason: req.reason, origin: req.origin, durationMs: req.durationMs, at: req.at ?? Date.now() };
      this.pending.set(key, group);
      if (count > 0 && !this.applier.waits(key)) this.early.place(key, req, group.at, this.rules, this.outage.down);
    }
    const port = req.port ?? 0;
    group.ports.set(port, (group.ports.get(port) ?? 0) + count);
    this.batcher.submit(null);
  }

  /** Submit and wait until the ban is in the firewall (or the firewall refused it once). */
  async ban(req: BanRequest): Promise<void> {
    const [outcome] = await this.banMany([req]);
    if (outcome?.status === "rejected") throw outcome.reason;
  }

  /** `ban` for many at once (a tool's batch): each one's outcome, once all are settled. */
  async banMany(reqs: readonly BanRequest[]): Promise<PromiseSettledResult<void>[]> {
    let waiting = 0;
    for (const list of this.waiters.values()) waiting += list.length;
    if (waiting + reqs.length > MAX_WAITERS) throw new Error(`${waiting} requests already wait for the firewall; try again`);
    const done = reqs.map(
      (req) =>
        new Promise<void>((resolve, reject) => {
          const key = prefixKey(req.prefix);
          this.waiters.set(key, [...(this.waiters.get(key) ?? []), { resolve, reject }]);
        }),
    );
    for (const req of reqs) this.submit(req);
    return Promise.allSettled(done);
  }

  private settle(key: string, error?: Error): void {
    const list = this.waiters.get(key);
    if (!list) return;
    this.waiters.delete(key);
    for (const w of list) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }

  private async flush(): Promise<void> {
    await this.early.settled();
    await testHold("record-hits", () => this.applier.isClosed);
    // At most FLUSH_MAX sources per store transaction: a storm's backlog goes in
    // several, so no single one holds the event loop for long.
    const groups: HitGroup[] = [];
    for (const [key, g] of this.pending) {
      if (groups.length >= FLUSH_MAX) break;
      groups.push(g);
      this.pending.delete(key);
    }
    if (this.pending.size) this.batcher.submit(null);
    if (groups.length) {
      let created: BanRow[];
      try {
        created = this.store.recordHits(groups, hitPolicy(this.rules));
      } catch (e) {
        await this.storeFailed(groups, e as Error);
        return;
      }
      this.outage.recorded(groups.length);
      const hitAt = new Map(groups.map((g) => [prefixKey(g.prefix), g.at]));
      for (const row of created) {
        // Banned and announced while the store was down: now only its timeout may change.
        const announcedAlready = this.outage.announced(row.prefix);
        // Found in the firewall, not hit: told to listeners, but no "blocking" line (the scan logs a count).
        const found = row.source === ADOPTED;
        const announce = !announcedAlready && !found;
        // A ban in force given a new length (ban --time) began before this batch's hit.
        const renewed = row.first_seen < (hitAt.get(row.prefix) ?? row.first_seen);
        this.applier.enqueue({ row, announce, quiet: found, renewed });
      }
      await this.early.recorded(groups, created);
      this.widening.aggregate(created);
      // A wider ban supersedes the narrower ones inside it (and nftables refuses overlapping intervals).
      // A peer's wide ban only ends what the firewall cannot hold beside it: our
      // own bans inside must outlive it if the peer lifts it.
      for (const row of created) await this.widening.endCovered(row, row.source === "peer");
      // Hits on bans already in force are done once counted.
      for (const g of groups) {
        const key = prefixKey(g.prefix);
        if (!this.applier.waits(key)) this.settle(key);
      }
    }
    await this.applier.applyWaiting();
    this.early.forgetAll(groups);
  }

  /** The store refused these hits: kept for the next batch (up to MAX_KEPT sources), and banned meanwhile. */
  private async storeFailed(groups: HitGroup[], error: Error): Promise<void> {
    this.early.forgetAll(groups); // banned by the outage path like every other hit
    for (const g of groups) {
      const key = prefixKey(g.prefix);
      const kept = this.pending.get(key);
      if (kept) for (const [port, n] of g.ports) kept.ports.set(port, (kept.ports.get(port) ?? 0) + n);
      else if (this.pending.size < MAX_KEPT) this.pending.set(key, g);
      else this.settle(key, new Error("the store cannot be written and too many hits are kept already"));
    }
    await this.outage.failed(groups, error, this.rules, (key) => this.settle(key));
  }

  /** End a ban: store first, then the firewall. False when it was not banned. `reason` is the text shown. */
  async unban(prefix: Prefix, kind: EndKind = "unban", reason: string = kind): Promise<boolean> {
    const key = prefixKey(prefix);
    this.early.forget(key); // its removal below comes after the early add in the firewall's order
    if (this.pending.delete(key)) this.settle(key, new Error("unbanned meanwhile"));
    const wasUnapplied = this.applier.forget(key);
    this.applier.keep(key);
    const ended = this.store.endBan(prefix, { kind, reason }) || wasUnapplied;
    // Removed whatever the store says: a leftover element must not keep dropping it.
    await this.applier.remove([prefix], `removing ${formatPrefix(prefix)}`);
    if (ended) this.applier.ended(prefix, { kind, reason }, true);
    return ended;
  }

  /** Resolves once nothing waits to be applied, or gives up after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.imports.idle();
      await this.batcher.idle();
      await this.applier.idle();
      const { unapplied, unremoved } = this.applier.sizes();
      if (this.pending.size === 0 && unapplied === 0 && unremoved === 0) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /** Resolves when the hits submitted so far are recorded (and their batch applied). */
  async flushed(): Promise<void> {
    await this.batcher.idle();
  }

  /** What the queue holds now, for tests of its bounds and for metrics. */
  sizes(): { pending: number; unapplied: number; unremoved: number; waiters: number } {
    return { pending: this.pending.size, ...this.applier.sizes(), waiters: this.waiters.size };
  }

  close(): void {
    this.applier.close();
  }
}
