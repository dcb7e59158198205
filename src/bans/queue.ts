import { formatPrefix, prefixKey, widen, type Prefix } from "../policy/address.js";
import type { Firewall, FirewallBan } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import type { BanRow, BanRules, HitGroup, Store } from "../store/store.js";
import { DEFAULT_RULES, rowPrefix } from "../store/store.js";
import { Batcher } from "./batcher.js";
import { needsOwnBan } from "./nesting.js";

/** One trap hit or one request to ban, already past the policy. */
export interface BanRequest {
  prefix: Prefix;
  /** Trap port; undefined when not known (a redirect listener cannot see it). */
  port?: number;
  source: string;
  reason?: string;
  /** Ban for this long whatever the rules say (ms; Infinity: permanent). */
  durationMs?: number;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 30_000;
const KILL_PAUSE_MS = 1_000;

/**
 * The one road to the firewall. Requests are deduplicated and recorded in the
 * store first (so a ban survives a crash before it reaches the firewall), then
 * applied in batches, one firewall update in flight at a time. A batch that
 * fails is split to find the entries the firewall refuses, and what could not
 * be applied is retried with backoff, never dropped.
 */
export class BanQueue {
  private readonly pending = new Map<string, HitGroup>();
  /** Recorded in the store, not yet in the firewall; `announce` is false for restored bans. */
  private readonly unapplied = new Map<string, { row: BanRow; announce: boolean }>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly batcher: Batcher<null>;
  private readonly killer: Batcher<Prefix>;
  /** Firewall calls one at a time: an unban must not race an add of the same prefix. */
  private firewallChain: Promise<unknown> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = RETRY_MIN_MS;
  private closed = false;

  /**
   * `firewall`, `rules` and `aggregateIpv4` may be swapped on a config reload;
   * everything else lives as long as the daemon.
   */
  constructor(
    private readonly store: Store,
    public firewall: Firewall,
    private readonly log: Logger,
    public rules: BanRules = DEFAULT_RULES,
    public aggregateIpv4?: number,
  ) {
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
      group = { prefix: req.prefix, ports: new Map(), source: req.source, reason: req.reason, durationMs: req.durationMs, at: Date.now() };
      this.pending.set(key, group);
    }
    const port = req.port ?? 0;
    group.ports.set(port, (group.ports.get(port) ?? 0) + count);
    this.batcher.submit(null);
  }

  /** Submit and wait until the ban is in the firewall (or the firewall refused it once). */
  async ban(req: BanRequest): Promise<void> {
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

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.firewallChain.then(op);
    this.firewallChain = next.catch(() => undefined);
    return next;
  }

  private async flush(): Promise<void> {
    const groups = [...this.pending.values()];
    this.pending.clear();
    if (groups.length) {
      const created = this.store.recordHits(groups, this.rules);
      for (const row of created) this.unapplied.set(row.prefix, { row, announce: true });
      this.aggregate(created);
      // A wider ban supersedes the narrower ones inside it (and nftables refuses overlapping intervals).
      for (const row of created) await this.endCovered(row);
      // Hits on bans already in force are done once counted.
      for (const g of groups) {
        const key = prefixKey(g.prefix);
        if (!this.unapplied.has(key)) this.settle(key);
      }
    }
    if (this.unapplied.size === 0) return;
    const entries = [...this.unapplied.values()];
    const failed = await this.serial(() => this.apply(entries));
    if (failed.length === 0) {
      this.retryDelay = RETRY_MIN_MS;
      return;
    }
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
    this.log.error(
      `firewall refused ${failed.length} ban(s), retrying in ${delay} ms: ${failed[0]?.error.message ?? ""}`,
    );
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
  private async apply(entries: { row: BanRow; announce: boolean }[]): Promise<{ row: BanRow; error: Error }[]> {
    const bans: FirewallBan[] = entries.map(({ row: r }) => ({
      prefix: rowPrefix(r),
      timeoutSec: r.expires_at === null ? undefined : Math.max(1, Math.ceil((r.expires_at - Date.now()) / 1000)),
    }));
    try {
      await this.firewall.add(bans);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
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
      if (!entry.announce) continue;
      const prefix = rowPrefix(row);
      // The original's line, "blocking ADDR", so existing log watchers keep working.
      this.log.info(`blocking ${formatPrefix(prefix)}${row.port ? ` (port ${row.port})` : ""}`);
      this.killer.submit(prefix);
    }
    return [];
  }

  /** `aggregate_ipv4`: enough banned addresses of one /24 make a ban of the /24. */
  private aggregate(created: readonly BanRow[]): void {
    const n = this.aggregateIpv4;
    if (!n) return;
    const nets = new Set<string>();
    for (const row of created) {
      const p = rowPrefix(row);
      if (p.family === 4 && p.length === 32) nets.add(prefixKey(widen(p, 24)));
    }
    for (const net of nets) {
      const members = this.store.activeWithin(rowPrefix({ prefix: net }));
      if (members.length >= n && !this.store.isBanned(rowPrefix({ prefix: net }))) {
        this.submit({ prefix: rowPrefix({ prefix: net }), source: "aggregate", reason: `${members.length} addresses of this /24 banned` });
      }
    }
  }

  /**
   * A new wide ban makes the narrower ones inside it history: ended, and out
   * of the firewall. Those that outlive it and can sit inside it stay.
   */
  private async endCovered(wideRow: BanRow): Promise<void> {
    const wide = rowPrefix(wideRow);
    if (wide.length === (wide.family === 4 ? 32 : 128)) return;
    const inside = this.store
      .activeWithin(wide)
      .filter((r) => r.prefix !== wideRow.prefix && !needsOwnBan(rowPrefix(r), r.expires_at, wideRow.expires_at, this.rules.lengths));
    if (inside.length === 0) return;
    for (const r of inside) {
      this.store.endBan(rowPrefix(r), `covered by ${formatPrefix(wide)}`);
      this.unapplied.delete(r.prefix);
    }
    await this.serial(() => this.firewall.remove(inside.map(rowPrefix))).catch((e: Error) =>
      this.log.warn(`removing bans covered by ${formatPrefix(wide)}: ${e.message}`),
    );
  }

  /** End a ban: store first, then the firewall. False when it was not banned. */
  async unban(prefix: Prefix, reason = "unban"): Promise<boolean> {
    const key = prefixKey(prefix);
    if (this.pending.delete(key)) this.settle(key, new Error("unbanned meanwhile"));
    const wasUnapplied = this.unapplied.delete(key);
    const ended = this.store.endBan(prefix, reason) || wasUnapplied;
    // Removed whatever the store says: a leftover element must not keep dropping it.
    await this.serial(() => this.firewall.remove([prefix]));
    if (ended) this.log.info(`unblocking ${formatPrefix(prefix)} (${reason})`);
    return ended;
  }

  /** End the bans whose time is up, in the store and in the firewall. */
  async expire(): Promise<number> {
    const rows = this.store.endExpired();
    if (rows.length === 0) return 0;
    for (const r of rows) this.unapplied.delete(r.prefix);
    const prefixes = rows.map(rowPrefix);
    // nftables expires its elements by itself; removing is harmless there and needed elsewhere.
    await this.serial(() => this.firewall.remove(prefixes)).catch((e: Error) => this.log.warn(`removing expired bans: ${e.message}`));
    for (const p of prefixes) this.log.info(`unblocking ${formatPrefix(p)} (expired)`);
    return rows.length;
  }

  /**
   * Make the firewall match the store: recreate what the backend owns when it
   * is gone, put back bans that went missing, remove what has ended, and adopt
   * bans the kernel made that the store has not heard of. The backend's cheap
   * `intact()` check spares listing a large set in the common case.
   */
  async reconcile(force = false): Promise<{ restored: number; removed: number; adopted: number } | undefined> {
    if (!force && this.firewall.intact && (await this.firewall.intact())) return undefined;
    await this.serial(() => this.firewall.setup());
    const held = await this.firewall.list();
    const active = new Map(this.store.activeBans().map((r) => [r.prefix, r]));
    const heldKeys = new Set(held.map(prefixKey));
    let restored = 0;
    for (const [key, row] of active) {
      if (heldKeys.has(key) || this.unapplied.has(key)) continue;
      this.unapplied.set(key, { row, announce: false });
      restored++;
    }
    const stale: Prefix[] = [];
    let adopted = 0;
    // Where the kernel bans by itself (nftables), an element after the ban
    // expired is a new ban of a returning scanner; elsewhere it is left over.
    const kernelBans = this.firewall.drainKernelHits !== undefined;
    for (const p of held) {
      const key = prefixKey(p);
      if (active.has(key) || this.unapplied.has(key)) continue;
      const last = this.store.lastBan(p);
      if (last && !(kernelBans && last.end_reason === "expired")) stale.push(p);
      else {
        this.submit({ prefix: p, source: "kernel" }, 0);
        adopted++;
      }
    }
    if (stale.length) await this.serial(() => this.firewall.remove(stale));
    if (restored) this.batcher.submit(null);
    return { restored, removed: stale.length, adopted };
  }

  /** Resolves once nothing waits to be applied, or gives up after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.batcher.idle();
      await this.killer.idle();
      if (this.pending.size === 0 && this.unapplied.size === 0) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }
}
