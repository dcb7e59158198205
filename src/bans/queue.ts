import { formatPrefix, prefixKey, widen, type Prefix } from "../net/address.js";
import { timeoutLeft, type Firewall, type FirewallBan } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import type { BanRow, EndKind, HitGroup, ImportedBan, ImportEntry, Store } from "../store/store.js";
import { rowPrefix } from "../store/store.js";
import { ADOPTED, DEFAULT_RULES, hitPolicy, type BanRules } from "./rules.js";
import { banLine } from "./ban-line.js";
import { Batcher } from "./batcher.js";
import { BanChanges } from "./changes.js";
import { needsOwnBan, nestable } from "./nesting.js";
import { Backoff } from "../util/backoff.js";
import { Serial } from "../util/serial.js";

/** One trap hit or one request to ban, already past the policy. */
export interface BanRequest {
  prefix: Prefix;
  /** Trap port; undefined when not known (a redirect listener cannot see it). */
  port?: number;
  source: string;
  reason?: string;
  /** A peer's ban: the fleet host that made it. */
  origin?: string;
  /** Ban for this long whatever the rules say (ms; Infinity: permanent). */
  durationMs?: number;
  /** When it was decided (ms); default now. With durationMs it fixes the exact end (a peer's absolute expiry). */
  at?: number;
  /** A hit's route, for its metrics: "kernel" when the kernel route saw the connection (and banned it there). */
  route?: "kernel" | "listener";
}

/** How many bans inside one network make a ban of the network (config aggregate_ipv4/_ipv6). */
export interface Aggregation {
  ipv4?: number;
  ipv6?: number;
}

/** The networks aggregation bans: a /24 of IPv4 addresses, a /48 of IPv6 /64s. */
const AGGREGATE_TO = { 4: 24, 6: 48 } as const;

export const aggregationFor = (c: { aggregate_ipv4?: number; aggregate_ipv6?: number }): Aggregation => ({
  ipv4: c.aggregate_ipv4,
  ipv6: c.aggregate_ipv6,
});

interface Unapplied {
  row: BanRow;
  announce: boolean;
  quiet?: boolean;
  renewed?: boolean;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}


const RETRY_MIN_MS = 200;
// A firewall that works again is used within seconds (a failed try costs one
// nft process): with 30 s, scanners went unbanned ~20 s after nft was back.
const RETRY_MAX_MS = 5_000;
const KILL_PAUSE_MS = 1_000;
// Callers waiting for their ban (CLI, inetd, control socket): a person's pace.
// More at once is a runaway client, refused rather than remembered.
export const MAX_WAITERS = 10_000;
// Sources recorded per store transaction (a few milliseconds of SQLite each ~100).
const FLUSH_MAX = 1_000;
// Distinct sources kept in memory while the store cannot be written (a day of a busy host).
export const MAX_KEPT = 1_000_000;
// nft's answer when a keyed ban set holds max_bans elements (ENFILE).
const SET_FULL = /Too many open files in system/;
// How wide a ban goes when the ban set is full: into the interval sets, which have no size limit.
const FULL_WIDEN = { 4: 24, 6: 48 } as const;
// Bans in one streamed import load: a tenth of a million-line import (one
// `nft -f` each), while memory holds at most about two of them.
const LOAD_MAX = 100_000;
// Ban changes told to the listeners between two turns of the event loop.
const EMIT_PAGE = 5_000;

/** Imports that go to the firewall in one call: batches join while the one before is in flight. */
interface Load {
  batches: { created: ImportedBan[]; source: string }[];
  count: number;
  /** The load before this one is in the firewall (or was refused and queued for retries). */
  after: Promise<void>;
  /** Taken out of the firewall while it waited for its turn. */
  removed?: Set<string>;
}

/**
 * The one road to the firewall. Requests are deduplicated and recorded in the
 * store first (so a ban survives a crash before it reaches the firewall), then
 * applied in batches, one firewall update in flight at a time. A batch that
 * fails is split to find the entries the firewall refuses, and what could not
 * be applied is retried with backoff, never dropped.
 */
export class BanQueue {
  /**
   * Hits since the last batch. Bounded by what arrives while one batch is
   * applied: each flush takes all of it.
   */
  private readonly pending = new Map<string, HitGroup>();
  /** Ended bans whose removal from the firewall failed: retried like bans. Bounded by the bans in force. */
  private readonly unremoved = new Map<string, Prefix>();
  /** Every ban put in the firewall and every ban ended, as it happens (metrics, event stream, fleet). */
  readonly changes: BanChanges;
  /** Called with each prefix taken out of the firewall (a restore in flight puts nothing back that was). */
  onRemoved: ((p: Prefix) => void) | undefined;
  private warnedFull = false;
  /** The store failed on the last write: said once per outage. */
  private storeDown = false;
  /** Hit batches the store refused since start (iblock_store_errors_total). */
  storeErrors = 0;
  /** The last write to the store failed (it is tried again with each batch). */
  get storeFailing(): boolean {
    return this.storeDown;
  }
  /** Banned in the firewall while the store was down, not yet recorded. At most MAX_KEPT. */
  private readonly bannedDuringOutage = new Set<string>();
  /**
   * Recorded in the store, not yet in the firewall. `announce` (log, kill states,
   * and tell the listeners) is false for restored bans; `quiet` bans (a bulk
   * import retried one by one) are told to the listeners without a log line.
   */
  private readonly unapplied = new Map<string, Unapplied>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly batcher: Batcher<null>;
  private readonly killer: Batcher<Prefix>;
  /** Firewall calls one at a time: an unban must not race an add of the same prefix. */
  private readonly firewallCalls = new Serial();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retryDelay = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  private closed = false;
  /**
   * Retry refused bans without a line each time: for a caller that waits for
   * the outcome and says it once (the inetd one-shot, whose retries end with it).
   */
  quietRetries = false;

  /**
   * `firewall`, `rules` and `aggregation` may be swapped on a config reload;
   * everything else lives as long as the daemon.
   */
  constructor(
    private readonly store: Store,
    public firewall: Firewall,
    private readonly log: Logger,
    public rules: BanRules = DEFAULT_RULES,
    public aggregation: Aggregation = {},
  ) {
    this.changes = new BanChanges(log);
    this.batcher = new Batcher(() => this.flush(), (e) => this.log.error(`ban queue: ${String(e)}`));
    this.killer = new Batcher(
      async (prefixes) => {
        for (const p of prefixes) this.log.info(`kill states for ${formatPrefix(p)}`);
        await this.firewall.killStates(prefixes);
      },
      (e) => this.log.warn(`could not kill states: ${e instanceof Error ? e.message : String(e)}`),
      // Starting conntrack and ss stalls node for milliseconds (fork of a large
      // process): at most once a second, so the bans between go unhindered.
      KILL_PAUSE_MS,
    );
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
    }
    const port = req.port ?? 0;
    group.ports.set(port, (group.ports.get(port) ?? 0) + count);
    this.batcher.submit(null);
  }

  /** Submit and wait until the ban is in the firewall (or the firewall refused it once). */
  async ban(req: BanRequest): Promise<void> {
    let waiting = 0;
    for (const list of this.waiters.values()) waiting += list.length;
    if (waiting >= MAX_WAITERS) throw new Error(`${waiting} requests already wait for the firewall; try again`);
    const done = new Promise<void>((resolve, reject) => {
      const key = prefixKey(req.prefix);
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), { resolve, reject }]);
    });
    this.submit(req);
    await done;
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

  /** Run a firewall call after the ones before it: the one way to the firewall. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    return this.firewallCalls.run(op);
  }

  private async flush(): Promise<void> {
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
      if (this.storeDown) {
        this.storeDown = false;
        this.retryDelay.reset();
        this.log.info(`the store works again: ${groups.length} kept hit(s) recorded`);
      }
      const hitAt = new Map(groups.map((g) => [prefixKey(g.prefix), g.at]));
      for (const row of created) {
        // Banned and announced while the store was down: now only its timeout may change.
        const announcedAlready = this.bannedDuringOutage.delete(row.prefix);
        // Found in the firewall, not hit: told to listeners, but no "blocking" line (the scan logs a count).
        const found = row.source === ADOPTED;
        const announce = !announcedAlready && !found;
        // A ban in force given a new length (ban --time) began before this batch's hit.
        const renewed = row.first_seen < (hitAt.get(row.prefix) ?? row.first_seen);
        this.unapplied.set(row.prefix, { row, announce, quiet: found, renewed });
        this.unremoved.delete(row.prefix); // banned again: a late removal must not undo it
      }
      this.aggregate(created);
      // A wider ban supersedes the narrower ones inside it (and nftables refuses overlapping intervals).
      // A peer's wide ban only ends what the firewall cannot hold beside it: our
      // own bans inside must outlive it if the peer lifts it.
      for (const row of created) await this.endCovered(row, row.source === "peer");
      // Hits on bans already in force are done once counted.
      for (const g of groups) {
        const key = prefixKey(g.prefix);
        if (!this.unapplied.has(key)) this.settle(key);
      }
    }
    const removeFailed = await this.retryRemovals();
    if (this.unapplied.size === 0 && !removeFailed) return;
    const entries = [...this.unapplied.values()];
    const failed = entries.length ? await this.serial(() => this.apply(entries)) : [];
    if (failed.length === 0 && !removeFailed) {
      this.retryDelay.reset();
      return;
    }
    const delay = this.retryDelay.next();
    if (failed.length && !this.quietRetries) this.log.error(`firewall refused ${failed.length} ban(s), retrying in ${delay} ms: ${failed[0]?.error.message ?? ""}`);
    clearTimeout(this.retryTimer);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.batcher.submit(null), delay);
    this.retryTimer.unref(); // what is unapplied is stored: it goes back at the next start
  }

  /**
   * Add `rows` to the firewall. On failure, halve and try again, so one entry
   * the firewall refuses (say an overlapping range) cannot hold back the rest.
   * Returns what could not be applied.
   */
  private async apply(entries: Unapplied[]): Promise<{ row: BanRow; error: Error }[]> {
    const bans: FirewallBan[] = entries.map(({ row: r }) => ({
      prefix: rowPrefix(r),
      timeoutSec: timeoutLeft(r.expires_at),
    }));
    try {
      await this.firewall.add(bans);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      if (SET_FULL.test(error.message)) {
        // Only the keyed sets have a size: what goes there is banned wider at once
        // (no split down to each address: every error costs nft a few milliseconds).
        const widens = (x: { row: BanRow }): boolean => {
          const p = rowPrefix(x.row);
          return nestable(p, this.rules.lengths) && p.length > FULL_WIDEN[p.family];
        };
        const keyed = entries.filter(widens);
        const others = entries.filter((x) => !widens(x));
        for (const x of keyed) this.banWider(x);
        if (others.length && keyed.length) return this.apply(others);
        for (const x of others) this.settle(x.row.prefix, error);
        return others.map((x) => ({ row: x.row, error }));
      }
      if (entries.length === 1) {
        const row = (entries[0] as { row: BanRow }).row;
        this.settle(row.prefix, error);
        return [{ row, error }];
      }
      const half = Math.ceil(entries.length / 2);
      return [...(await this.apply(entries.slice(0, half))), ...(await this.apply(entries.slice(half)))];
    }
    for (const entry of entries) {
      const { row } = entry;
      // An unban may have come while this was in flight; it removes after us.
      if (this.unapplied.get(row.prefix) !== entry) continue;
      this.unapplied.delete(row.prefix);
      this.settle(row.prefix);
      if (!entry.announce && !entry.quiet) continue;
      const prefix = rowPrefix(row);
      if (entry.announce) {
        const line = banLine(prefix, row);
        if (line) this.log.info(line);
        this.killer.submit(prefix);
      }
      this.changes.emit({ kind: "ban", prefix, source: row.source, reason: row.reason, port: row.port, expiresAt: row.expires_at, at: Date.now(), ...(entry.renewed ? { renewed: true } : {}) });
    }
    return [];
  }

  /**
   * The store cannot be written (a full disk, a read-only state dir, an I/O
   * error). The firewall is the protection and the store the memory: ban at
   * once with the rules' first-offence length, keep the hits in memory, and
   * record them when the store works again. One log line per outage.
   */
  private async storeFailed(groups: HitGroup[], error: Error): Promise<void> {
    this.storeErrors++;
    if (!this.storeDown) {
      this.storeDown = true;
      this.log.error(`cannot write the store (${error.message}); banning all the same and keeping the hits in memory until it works again`);
    }
    for (const g of groups) {
      const key = prefixKey(g.prefix);
      const kept = this.pending.get(key);
      if (kept) for (const [port, n] of g.ports) kept.ports.set(port, (kept.ports.get(port) ?? 0) + n);
      else if (this.pending.size < MAX_KEPT) this.pending.set(key, g);
      else this.settle(key, new Error("the store cannot be written and too many hits are kept already"));
    }
    const fresh = groups.filter((g) => !this.bannedDuringOutage.has(prefixKey(g.prefix)) && this.bannedDuringOutage.size < MAX_KEPT);
    if (fresh.length) {
      const bans: FirewallBan[] = fresh.map((g) => {
        const ms = g.durationMs ?? (g.source === "syn" ? this.rules.synMs : this.rules.times.banMs);
        return { prefix: g.prefix, timeoutSec: ms === Infinity ? undefined : Math.ceil(ms / 1000) };
      });
      try {
        await this.serial(() => this.firewall.add(bans));
        for (const g of fresh) {
          const key = prefixKey(g.prefix);
          this.bannedDuringOutage.add(key);
          this.settle(key);
          const port = [...g.ports.keys()].find((p) => p > 0);
          const line = banLine(g.prefix, { source: g.source, reason: g.reason ?? null, port: port ?? null });
          if (line) this.log.info(line);
          this.killer.submit(g.prefix);
          const ban = bans.find((b) => b.prefix === g.prefix);
          const expiresAt = ban?.timeoutSec === undefined ? null : Date.now() + ban.timeoutSec * 1000;
          this.changes.emit({ kind: "ban", prefix: g.prefix, source: g.source, reason: g.reason ?? null, port: port ?? null, expiresAt, at: Date.now() });
        }
      } catch (e) {
        this.log.error(`firewall refused ${bans.length} ban(s) while the store is down, retrying: ${(e as Error).message}`);
      }
    }
    const delay = this.retryDelay.next();
    clearTimeout(this.retryTimer);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.batcher.submit(null), delay);
  }

  /**
   * The keyed ban set holds max_bans elements: say so once, keep the ban in
   * the store as history, and ban its /24 (/48) in the interval set, which
   * has no limit. Only for bans narrower than that (the caller checks).
   */
  private banWider(entry: { row: BanRow; announce: boolean }): void {
    const p = rowPrefix(entry.row);
    if (!this.warnedFull) {
      this.warnedFull = true;
      this.log.error(`the ban set is full (max_bans); recording every ban and banning whole /${FULL_WIDEN[4]} (IPv4) and /${FULL_WIDEN[6]} (IPv6) networks instead; raise max_bans`);
    }
    this.unapplied.delete(entry.row.prefix);
    this.settle(entry.row.prefix);
    const wide = widen(p, FULL_WIDEN[p.family]);
    // Ended at once, as history: it never reached the firewall, so the wide ban
    // has nothing to take out for it (a delete of a missing element is an error to nft).
    const reason = `covered by ${formatPrefix(wide)} (ban set full)`;
    if (this.store.endBan(p, { kind: "covered", reason })) this.changes.emit({ kind: "unban", prefix: p, reason, ending: "covered", at: Date.now() });
    this.submit({ prefix: wide, source: "aggregate", reason: "ban set full" });
  }

  /** Removals that failed before (an unban, an expiry): tried again with the next batch. True when some still fail. */
  private async retryRemovals(): Promise<boolean> {
    if (this.unremoved.size === 0) return false;
    const prefixes = [...this.unremoved.values()];
    try {
      await this.serial(() => this.firewall.remove(prefixes));
    } catch (e) {
      this.log.error(`firewall refused to remove ${prefixes.length} ended ban(s), retrying: ${(e as Error).message}`);
      return true;
    }
    for (const p of prefixes) {
      this.unremoved.delete(prefixKey(p));
      this.onRemoved?.(p);
    }
    return false;
  }

  /**
   * `aggregate_ipv4` / `aggregate_ipv6`: enough bans inside one /24 (IPv4)
   * or one /48 (IPv6) make a ban of the whole network.
   */
  private aggregate(created: readonly BanRow[]): void {
    const nets = new Map<string, Prefix>();
    for (const row of created) {
      const p = rowPrefix(row);
      const wide = AGGREGATE_TO[p.family];
      if (this.aggregation[p.family === 4 ? "ipv4" : "ipv6"] && p.length > wide) {
        const net = widen(p, wide);
        nets.set(prefixKey(net), net);
      }
    }
    for (const net of nets.values()) {
      const n = this.aggregation[net.family === 4 ? "ipv4" : "ipv6"] ?? Infinity;
      const members = this.store.activeWithin(net);
      if (members.length >= n && !this.store.isBanned(net)) {
        this.submit({ prefix: net, source: "aggregate", reason: `${members.length} bans inside this /${net.length}` });
      }
    }
  }

  /**
   * A new wide ban makes the narrower ones inside it history: ended, and out
   * of the firewall. Those that outlive it and can sit inside it stay.
   */
  private async endCovered(wideRow: BanRow, onlyClashing = false): Promise<void> {
    const wide = rowPrefix(wideRow);
    if (wide.length === (wide.family === 4 ? 32 : 128)) return;
    // onlyClashing: end only what the firewall cannot hold beside the wide ban
    // (an import keeps the trap bans inside it: they outlive a feed's entry).
    const ends = (r: BanRow): boolean =>
      onlyClashing ? !nestable(rowPrefix(r), this.rules.lengths) : !needsOwnBan(rowPrefix(r), r.expires_at, wideRow.expires_at, this.rules.lengths);
    const inside = this.store.activeWithin(wide).filter((r) => r.prefix !== wideRow.prefix && ends(r));
    if (inside.length === 0) return;
    const reason = `covered by ${formatPrefix(wide)}`;
    for (const r of inside) {
      if (this.store.endBan(rowPrefix(r), { kind: "covered", reason })) this.changes.emit({ kind: "unban", prefix: rowPrefix(r), reason, ending: "covered", at: Date.now() });
      this.unapplied.delete(r.prefix);
    }
    await this.removeOrRetry(inside.map(rowPrefix), `removing bans covered by ${formatPrefix(wide)}`);
  }

  /** End a ban: store first, then the firewall. False when it was not banned. `reason` is the text shown. */
  async unban(prefix: Prefix, kind: EndKind = "unban", reason: string = kind): Promise<boolean> {
    const key = prefixKey(prefix);
    if (this.pending.delete(key)) this.settle(key, new Error("unbanned meanwhile"));
    const wasUnapplied = this.unapplied.delete(key);
    this.unremoved.delete(key);
    const ended = this.store.endBan(prefix, { kind, reason }) || wasUnapplied;
    // Removed whatever the store says: a leftover element must not keep dropping it.
    await this.removeOrRetry([prefix], `removing ${formatPrefix(prefix)}`);
    if (ended) {
      this.log.info(`unblocking ${formatPrefix(prefix)} (${reason})`);
      this.changes.emit({ kind: "unban", prefix, reason, ending: kind, at: Date.now() });
    }
    return ended;
  }

  /** Take prefixes out of the firewall; what fails is retried with the next batches until it goes. */
  private async removeOrRetry(prefixes: Prefix[], what: string, stillEnded: (p: Prefix) => boolean = () => true): Promise<void> {
    let removed: Prefix[] = [];
    try {
      // An import load waiting for its turn must not put these back afterwards,
      // nor one whose bans are being told announce them after their unban.
      if (this.filling) for (const p of prefixes) this.removedWhileLoading.add(prefixKey(p));
      if (this.telling) for (const p of prefixes) this.removedWhileTelling.add(prefixKey(p));
      await this.serial(async () => {
        removed = prefixes.filter(stillEnded);
        if (removed.length) await this.firewall.remove(removed);
      });
      for (const p of removed) this.onRemoved?.(p);
    } catch (e) {
      for (const p of prefixes.filter(stillEnded)) this.unremoved.set(prefixKey(p), p);
      this.log.warn(`${what}: ${(e as Error).message}; retrying`);
      this.batcher.submit(null);
    }
  }

  /**
   * End the bans whose time is up, in the store and (where elements do not
   * expire by themselves) in the firewall. A few thousand at a time, yielding
   * between, so a day-old storm expiring at once never stalls the daemon.
   */
  async expire(): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = this.store.endExpired();
      if (rows.length === 0) return total;
      total += rows.length;
      for (const r of rows) this.unapplied.delete(r.prefix);
      if (this.telling) for (const r of rows) this.removedWhileTelling.add(r.prefix);
      const prefixes = rows.map(rowPrefix);
      if (!this.firewall.can.expiresItself) {
        await this.serial(() => this.firewall.remove(prefixes)).catch((e: Error) => {
          for (const p of prefixes) this.unremoved.set(prefixKey(p), p);
          this.log.warn(`removing expired bans: ${e.message}; retrying`);
          this.batcher.submit(null);
        });
      }
      const at = Date.now();
      for (const p of prefixes) {
        this.log.info(`unblocking ${formatPrefix(p)} (expired)`);
        this.changes.emit({ kind: "unban", prefix: p, reason: "expired", ending: "expired", at });
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Many bans at once (`iblock import`, a fleet's snapshot, feeds): recorded
   * in one transaction and added to the firewall without a log line each.
   * What the firewall refuses goes the usual way (retried one by one).
   * Entries may carry their own expiry, reason and port (a fleet's snapshot).
   *
   * `addOnly`: none of them is in the firewall yet (an import, a catch-up), so
   * where a load only adds (nftables), it goes like a restore's: one `nft -f`,
   * without the add, delete, add that replaces a timeout (three times the
   * work). Such imports made while a load is in flight join the next load
   * (up to LOAD_MAX bans), so a stream of pages costs a handful of loads, and
   * recording the next pages goes on while the kernel takes the last ones.
   * Resolves once recorded, and once the load before this one's is in the
   * firewall when its own is full: memory holds about two loads. An empty
   * call resolves once every earlier import is in the firewall.
   *
   * Otherwise (PF, feeds) one firewall call per import, as it comes.
   */
  async importBans(
    prefixes: readonly (Prefix | ImportEntry)[],
    opts: { source: string; reason: string | null; durationMs: number; addOnly?: boolean },
  ): Promise<number> {
    if (prefixes.length === 0) {
      await this.importing;
      return 0;
    }
    // Bans whose time is up are closed the usual way first (logged, out of PF's
    // table): an expired ban still open would make the import skip its prefix.
    await this.expire();
    const created = this.store.importBans(prefixes, opts);
    // A network over a narrower ban of the interval set (a person's /24 inside a
    // feed's /16) would make nftables refuse the whole batch: that one ends first.
    for (const c of created) {
      if (c.prefix.length === (c.prefix.family === 4 ? 32 : 128) || nestable(c.prefix, this.rules.lengths)) continue;
      const row = this.store.openBan(c.prefix);
      if (row) await this.endCovered(row, true);
    }
    if (created.length === 0) return 0;
    const streamed = opts.addOnly === true && !this.firewall.can.restoreReplaces;
    let load = this.filling;
    if (!streamed || !load || load.count >= LOAD_MAX) load = this.nextLoad(streamed);
    load.batches.push({ created, source: opts.source });
    load.count += created.length;
    // One full load waiting is enough: the caller waits for the one in flight.
    if (!streamed || load.count >= LOAD_MAX) await load.after;
    return created.length;
  }

  /** The imports in flight, in order; the last one still takes batches while it waits. */
  private importing: Promise<void> = Promise.resolve();
  private filling: Load | undefined;
  /** Taken out of the firewall while a load waited: not put back by it. */
  private removedWhileLoading = new Set<string>();
  /** Loads whose bans are being told, and what ended meanwhile (not told as banned after its unban). */
  private telling = 0;
  private readonly removedWhileTelling = new Set<string>();

  private nextLoad(streamed: boolean): Load {
    const after = this.importing;
    const load: Load = { batches: [], count: 0, after };
    if (streamed) {
      this.filling = load;
      // Its turn comes once the load before is in: batches join it meanwhile.
      this.importing = after.then(() => {
        if (this.filling === load) this.filling = undefined;
        const fw = this.firewall;
        return this.runLoad(load, () => this.serial(() => fw.restore(() => this.pagesOf(load))));
      });
    } else {
      // In the firewall's order at once, as it comes (an unban after it goes after it).
      const fw = this.firewall;
      const loaded = this.serial(() => fw.add(load.batches.flatMap((b) => this.bansOf(b.created, load))));
      // Still after the loads before it: an empty importBans() waits for them all.
      this.importing = Promise.all([after, this.runLoad(load, () => loaded)]).then(() => undefined);
    }
    this.importing = this.importing.catch((e: Error) => this.log.error(`import: ${e.message}`));
    return load;
  }

  /** Unbanned (or covered) while its load waited, and not banned again: it stays out. */
  private kept(c: ImportedBan, load: Load): boolean {
    return !load.removed?.has(prefixKey(c.prefix)) || this.store.isBanned(c.prefix);
  }

  private bansOf(created: readonly ImportedBan[], load: Load): FirewallBan[] {
    const now = Date.now();
    return created
      .filter((c) => this.kept(c, load))
      .map((c) => ({ prefix: c.prefix, timeoutSec: timeoutLeft(c.expires_at, now) }));
  }

  /** A load's batches as a restore's pages, each made when the restore reads it. */
  private async *pagesOf(load: Load): AsyncGenerator<FirewallBan[]> {
    for (const b of load.batches) yield await Promise.resolve(this.bansOf(b.created, load));
  }

  /** One load through the firewall, then each of its bans told to the listeners (or queued for retries). */
  private async runLoad(load: Load, firewallCall: () => Promise<unknown>): Promise<void> {
    if (this.removedWhileLoading.size) {
      load.removed = this.removedWhileLoading;
      if (!this.filling) this.removedWhileLoading = new Set();
    }
    try {
      await firewallCall();
    } catch (e) {
      this.log.warn(`import: the firewall refused a batch of ${load.count}, retrying one by one: ${(e as Error).message}`);
      for (const b of load.batches) {
        for (const c of b.created) {
          const row = this.store.openBan(c.prefix);
          if (row) this.unapplied.set(row.prefix, { row, announce: false, quiet: true });
        }
      }
      this.batcher.submit(null);
      return;
    }
    const at = Date.now();
    let told = 0;
    this.telling++;
    try {
      for (const { created, source } of load.batches) {
        for (const c of created) {
          // Unbanned (or expired) while the events before it were told: its unban went out already.
          // (Its key made only when something was: a load is up to LOAD_MAX bans.)
          if (!this.kept(c, load) || (this.removedWhileTelling.size > 0 && this.removedWhileTelling.has(prefixKey(c.prefix)))) continue;
          this.changes.emit({ kind: "ban", prefix: c.prefix, source, reason: c.reason, port: c.port, expiresAt: c.expires_at, at });
          // A load holds up to LOAD_MAX: the listeners get the event loop back now and then.
          if (++told % EMIT_PAGE === 0) await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      if (--this.telling === 0) this.removedWhileTelling.clear();
    }
  }

  /**
   * Many bans the caller has already ended in the store (a feed dropped them),
   * out of the firewall in one call, without a log line each: importBans' other half.
   */
  async removeEnded(prefixes: readonly Prefix[], reason: string, kind: EndKind = "feed"): Promise<void> {
    if (prefixes.length === 0) return;
    for (const p of prefixes) this.unapplied.delete(prefixKey(p));
    await this.importing; // an import of the same prefixes in flight lands first
    // Checked again when the firewall's turn comes: one banned anew meanwhile (a
    // trap hit, queued before us) must stay in the firewall.
    await this.removeOrRetry([...prefixes], `removing ${prefixes.length} ban(s) (${reason})`, (p) => !this.store.openBan(p));
    const at = Date.now();
    for (const p of prefixes) this.changes.emit({ kind: "unban", prefix: p, reason, ending: kind, at });
  }

  /** Resolves once nothing waits to be applied, or gives up after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.importing;
      await this.batcher.idle();
      await this.killer.idle();
      if (this.pending.size === 0 && this.unapplied.size === 0 && this.unremoved.size === 0) return true;
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
    return { pending: this.pending.size, unapplied: this.unapplied.size, unremoved: this.unremoved.size, waiters: this.waiters.size };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }
}
