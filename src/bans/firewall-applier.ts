import { formatPrefix, prefixKey, type Prefix } from "../net/address.js";
import { SetFullError, timeoutLeft, type Firewall, type FirewallBan } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import { rowPrefix, type BanRow, type Ending } from "../store/store.js";
import { Backoff } from "../util/backoff.js";
import { Serial } from "../util/serial.js";
import { banLine } from "./ban-line.js";
import { Batcher } from "./batcher.js";
import { BanChanges } from "./changes.js";

/** A ban recorded in the store and not yet in the firewall. */
export interface Unapplied {
  row: BanRow;
  /** Log it, kill its states and tell the listeners (false for a restored ban). */
  announce: boolean;
  /** Tell the listeners without a log line (a bulk import retried one by one, an adopted ban). */
  quiet?: boolean;
  /** A ban in force given a new length: told as renewed. */
  renewed?: boolean;
}

/** A ban put in the firewall, as the listeners and the log line need it. */
export interface AppliedBan {
  source: string;
  reason: string | null;
  port: number | null;
  expiresAt: number | null;
  renewed?: boolean;
}

/** What the applier asks of the one who feeds it (the hit queue). */
export interface ApplierOwner {
  /** The ban for `key` reached the firewall, or (with an error) was refused. */
  settled(key: string, error?: Error): void;
  /** The firewall's ban set is full: deal with what can go wider, and return the entries still to try. */
  setFull(entries: readonly Unapplied[]): Unapplied[];
  /** Run a batch soon: a retry is due, or bans wait that no batch is coming for. */
  wake(): void;
  /** The firewall holds this row's ban already, with its expiry (an early ban): no add for it. */
  holds?(row: BanRow): boolean;
}

export type RemovalListener = (p: Prefix) => void;

const RETRY_MIN_MS = 200;
// A firewall that works again is used within seconds (a failed try costs one
// nft process): with 30 s, scanners went unbanned ~20 s after nft was back.
const RETRY_MAX_MS = 5_000;
const KILL_PAUSE_MS = 1_000;

/**
 * Everything that goes to the firewall, one call in flight at a time (an
 * unban must not race an add of the same prefix). A batch the firewall
 * refuses is split to find the entries it refuses; what could not be applied
 * or removed is kept and retried with backoff, never dropped. Each ban put in
 * and each ended is logged and told to `changes`; each removal is told to the
 * removal listeners first, so nothing in flight puts it back.
 */
export class FirewallApplier {
  /** Every ban put in the firewall and every ban ended, as it happens (metrics, event stream, fleet). */
  readonly changes: BanChanges;
  /** Swapped on a config reload (between two calls: the daemon waits for `serial`). */
  firewall: Firewall;
  /** The doubling wait before a retry: firewall calls and store writes alike. */
  readonly retryDelay = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  /**
   * Retry refused bans without a line each time: for a caller that waits for
   * the outcome and says it once (the inetd one-shot, whose retries end with it).
   */
  quietRetries = false;
  private readonly unapplied = new Map<string, Unapplied>();
  /** Ended bans whose removal from the firewall failed: retried like bans. Bounded by the bans in force. */
  private readonly unremoved = new Map<string, Prefix>();
  private readonly removalListeners = new Set<RemovalListener>();
  private readonly calls = new Serial();
  /** Firewall calls given and not yet settled: 0 when the firewall is idle. */
  private inFlight = 0;
  private readonly killer: Batcher<Prefix>;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    firewall: Firewall,
    private readonly log: Logger,
    private readonly owner: ApplierOwner,
  ) {
    this.firewall = firewall;
    this.changes = new BanChanges(log);
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

  /** Run a firewall call after the ones before it: the one way to the firewall. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    this.inFlight++;
    const call = this.calls.run(op);
    const settled = (): void => {
      this.inFlight--;
    };
    void call.then(settled, settled);
    return call;
  }

  /** A firewall call is given and not yet settled. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called with each prefix about to leave the firewall, before it goes. Returns the function that stops listening. */
  onRemoved(listener: RemovalListener): () => void {
    this.removalListeners.add(listener);
    return () => this.removalListeners.delete(listener);
  }

  /** Applied with the next batch. A ban again: a late removal of it must not undo it. */
  enqueue(entry: Unapplied): void {
    this.unapplied.set(entry.row.prefix, entry);
    this.unremoved.delete(entry.row.prefix);
  }

  /** Not to be applied after all (ended meanwhile). True when it was waiting. */
  forget(key: string): boolean {
    return this.unapplied.delete(key);
  }

  /** Waits to be applied. */
  waits(key: string): boolean {
    return this.unapplied.has(key);
  }

  /** Not to be removed after all (an unban takes it out itself). */
  keep(key: string): void {
    this.unremoved.delete(key);
  }

  /** Retry the removals that failed, then apply what waits; what fails again is retried after a backoff. */
  async applyWaiting(): Promise<void> {
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
    // What is unapplied is stored: it goes back at the next start.
    this.wakeIn(delay, false);
  }

  /** Ask the owner for a batch now: bans wait that no batch is coming for. */
  applySoon(): void {
    this.owner.wake();
  }

  /** Ask the owner for a batch after `delay`; `keepAlive`: what waits is only in memory. */
  wakeIn(delay: number, keepAlive: boolean): void {
    clearTimeout(this.retryTimer);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.owner.wake(), delay);
    if (!keepAlive) this.retryTimer.unref();
  }

  /**
   * Add the entries to the firewall. On failure, halve and try again, so one
   * entry the firewall refuses (say an overlapping range) cannot hold back the
   * rest. Returns what could not be applied.
   */
  private async apply(entries: Unapplied[]): Promise<{ row: BanRow; error: Error }[]> {
    // What an early ban put in with this expiry is in already.
    const bans: FirewallBan[] = entries
      .filter(({ row: r }) => this.owner.holds?.(r) !== true)
      .map(({ row: r }) => ({ prefix: rowPrefix(r), timeoutSec: timeoutLeft(r.expires_at) }));
    try {
      if (bans.length) await this.firewall.add(bans);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      if (error instanceof SetFullError) {
        // What can go wider goes at once (no split down to each address: every
        // error costs nft a few milliseconds); the rest is tried once more.
        const rest = this.owner.setFull(entries);
        if (rest.length && rest.length < entries.length) return this.apply(rest);
        return this.refused(rest, error);
      }
      if (entries.length === 1) return this.refused(entries, error);
      const half = Math.ceil(entries.length / 2);
      return [...(await this.apply(entries.slice(0, half))), ...(await this.apply(entries.slice(half)))];
    }
    for (const entry of entries) {
      const { row } = entry;
      // An unban may have come while this was in flight; it removes after us.
      if (this.unapplied.get(row.prefix) !== entry) continue;
      this.unapplied.delete(row.prefix);
      this.owner.settled(row.prefix);
      if (!entry.announce && !entry.quiet) continue;
      const ban = { source: row.source, reason: row.reason, port: row.port, expiresAt: row.expires_at, ...(entry.renewed ? { renewed: true } : {}) };
      this.banned(rowPrefix(row), ban, entry.announce);
    }
    return [];
  }

  private refused(entries: readonly Unapplied[], error: Error): { row: BanRow; error: Error }[] {
    for (const x of entries) this.owner.settled(x.row.prefix, error);
    return entries.map((x) => ({ row: x.row, error }));
  }

  /** A ban is in the firewall: told to the listeners; `logged` also says it and kills its states. */
  banned(prefix: Prefix, ban: AppliedBan, logged: boolean): void {
    if (logged) {
      const line = banLine(prefix, ban);
      if (line) this.log.info(line);
      this.killer.submit(prefix);
    }
    const { renewed, ...rest } = ban;
    this.changes.emit({ kind: "ban", prefix, ...rest, at: Date.now(), ...(renewed ? { renewed: true } : {}) });
  }

  /** A ban has ended: told to the listeners; `logged` also says so. */
  ended(prefix: Prefix, { kind, reason }: Ending, logged: boolean, at = Date.now()): void {
    if (logged) this.log.info(`unblocking ${formatPrefix(prefix)} (${reason})`);
    this.changes.emit({ kind: "unban", prefix, reason, ending: kind, at });
  }

  /** Tell the removal listeners: these leave the firewall (or leave it by themselves). */
  removing(prefixes: readonly Prefix[]): void {
    for (const listen of this.removalListeners) for (const p of prefixes) listen(p);
  }

  /**
   * Take prefixes out of the firewall; what fails is retried with the next
   * batches until it goes. `stillEnded` is asked when the firewall's turn
   * comes: one banned anew meanwhile stays.
   */
  async remove(prefixes: readonly Prefix[], what: string, stillEnded: (p: Prefix) => boolean = () => true): Promise<void> {
    this.removing(prefixes);
    try {
      await this.serial(async () => {
        const removed = prefixes.filter(stillEnded);
        if (removed.length) await this.firewall.remove(removed);
      });
    } catch (e) {
      for (const p of prefixes.filter(stillEnded)) this.unremoved.set(prefixKey(p), p);
      this.log.warn(`${what}: ${(e as Error).message}; retrying`);
      this.owner.wake();
    }
  }

  /** Removals that failed before (an unban, an expiry): tried again with the next batch. True when some still fail. */
  private async retryRemovals(): Promise<boolean> {
    if (this.unremoved.size === 0) return false;
    const prefixes = [...this.unremoved.values()];
    this.removing(prefixes);
    try {
      await this.serial(() => this.firewall.remove(prefixes));
    } catch (e) {
      this.log.error(`firewall refused to remove ${prefixes.length} ended ban(s), retrying: ${(e as Error).message}`);
      return true;
    }
    for (const p of prefixes) this.unremoved.delete(prefixKey(p));
    return false;
  }

  /** Settles once no state killing is queued or running. */
  idle(): Promise<void> {
    return this.killer.idle();
  }

  sizes(): { unapplied: number; unremoved: number } {
    return { unapplied: this.unapplied.size, unremoved: this.unremoved.size };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }
}
