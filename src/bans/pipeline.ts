import type { Config } from "../config.js";
import type { Firewall } from "../firewall/firewall.js";
import { makeFirewall } from "../firewall/registry.js";
import type { Logger } from "../log.js";
import { allowListFor } from "../policy/allow.js";
import { policyFor, policyLengths, type Policy } from "../policy/policy.js";
import { checkStateFiles, DAEMON_UMASK, prepareStateDir, secureStateFiles } from "../state-dir.js";
import { Store } from "../store/store.js";
import { banRulesFor } from "./rules.js";
import { inetdFirewall, offlineFirewall } from "./pipeline-firewall.js";
import { BanQueue } from "./queue.js";
import { aggregationFor } from "./widening.js";
import { Reconciler } from "./reconciler.js";
import { readOnlyOpenError, unreadable } from "./store-access.js";

/**
 * Who runs the pipeline, which decides how its store and firewall are opened:
 * - daemon: the store in a state dir the daemon prepared and locked; the
 *   firewall is set up and claimed by its start, then swapped by `reconfigure`.
 * - inetd: one ban; the firewall ready before the store (a ban it cannot take
 *   is never recorded), the store in memory when state_dir cannot be written.
 * - offline-change: the CLI's change with no daemon; the state dir checked
 *   first (one refused leaves the firewall alone), then the firewall set up.
 * - offline-read: the CLI's question with no daemon; the store read as it is,
 *   never made for the asking, and the firewall left alone.
 */
export type PipelineMode = "daemon" | "inetd" | "offline-change" | "offline-read";

export interface PipelineOptions {
  mode: PipelineMode;
  /** inetd mode: the port inetd accepted the connection on (inetd holds it for us). */
  inetdPort?: number;
  /**
   * The daemon's kernel route: its reports read before the reconciler takes a
   * firewall element for unknown (a ban the kernel just made is recorded with its port).
   */
  settleReports?: () => Promise<void>;
}

/**
 * The store opened read-only: listing a million bans costs the daemon nothing
 * (SQLite's WAL lets readers run beside its writer). A store that is not there
 * or may not be read is an error naming the path (exit 66 or 77), never "no
 * bans": a typo in state_dir or a missing group must not read as a quiet host.
 */
export function openReader(config: Config): Store {
  const why = unreadable(config);
  if (why) throw why;
  try {
    return new Store(config.database, { readonly: true });
  } catch (e) {
    throw readOnlyOpenError(config, e);
  }
}

/** `fn` on the store opened read-only (openReader's errors), closed after, whatever `fn` does. */
export function withReader<T>(config: Config, fn: (store: Store) => T): T {
  const store = openReader(config);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** The same, for `fn` that awaits (a listing written as it is read). */
export async function withReaderAsync<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openReader(config);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/**
 * The store opened for writing by a process other than the daemon (inetd
 * mode, the CLI with no daemon): state_dir checked and made as the daemon
 * makes it, 0750, its files 0640 in `group` (never 0755 and 0644 by the umask
 * it was started with), and no planted link opened as the store (exit 78).
 */
async function openOwnStore(config: Config): Promise<Store> {
  process.umask(DAEMON_UMASK);
  const gid = await prepareStateDir(config);
  checkStateFiles(config.state_dir);
  const store = new Store(config.database);
  secureStateFiles(config, gid);
  return store;
}

/** inetd mode's store; in memory when state_dir cannot be used. */
async function openInetdStore(config: Config, log: Logger): Promise<Store> {
  try {
    return await openOwnStore(config);
  } catch (e) {
    // An unprivileged _iblock may not write state_dir: ban all the same, and say that nothing is recorded.
    log.warn(`not recording this ban: ${e instanceof Error ? e.message : String(e)}`);
    return new Store(":memory:");
  }
}

/** Store and firewall for a mode, in the order that mode needs them. */
async function openParts(config: Config, log: Logger, opts: PipelineOptions): Promise<{ store: Store; firewall: Firewall }> {
  switch (opts.mode) {
    case "daemon":
      return { store: new Store(config.database), firewall: makeFirewall(config) };
    case "offline-read":
      return { store: openReader(config), firewall: makeFirewall(config) };
    case "inetd": {
      const firewall = await inetdFirewall(config, opts.inetdPort, log);
      return { store: await openInetdStore(config, log), firewall };
    }
    case "offline-change": {
      const store = await openOwnStore(config);
      try {
        return { store, firewall: await offlineFirewall(config) };
      } catch (e) {
        store.close();
        throw e;
      }
    }
  }
}

/**
 * Store, firewall, policy, ban rules, queue and reconciler, made from a config
 * the same way for the daemon, inetd mode and the offline CLI; swapped on a
 * reload and torn down in one place.
 */
export class Pipeline {
  readonly policy: Policy;
  readonly queue: BanQueue;
  readonly reconciler: Reconciler;

  constructor(
    readonly store: Store,
    firewall: Firewall,
    config: Config,
    log: Logger,
    settleReports?: () => Promise<void>,
  ) {
    this.policy = policyFor(config);
    this.queue = new BanQueue(store, firewall, log, banRulesFor(config), aggregationFor(config));
    this.reconciler = new Reconciler(store, this.queue, log, settleReports, (p) => this.policy.allow.match(p) !== undefined);
  }

  /** The firewall bans go to now (a reload replaces it). */
  get firewall(): Firewall {
    return this.queue.firewall;
  }

  /**
   * A reloaded config: its firewall (set up by the caller), ban rules,
   * aggregation and allow list. The old firewall is closed once the calls on
   * it (`inFlight`, and the queue's) are done: closed under them, they failed
   * with a spurious "nft session closed". The old one read and deleted part of
   * the kernel's report sets: the new one reads on from there.
   */
  async reconfigure(config: Config, firewall: Firewall, inFlight: () => Promise<unknown> = () => Promise.resolve()): Promise<void> {
    const old = this.queue.firewall;
    this.queue.firewall = firewall;
    if (old !== firewall) {
      await Promise.all([inFlight(), this.queue.serial(() => Promise.resolve())]);
      await old.close?.();
    }
    this.queue.rules = banRulesFor(config);
    this.queue.aggregation = aggregationFor(config);
    this.policy.update(allowListFor(config), ...policyLengths(config));
  }

  /** Give the queue up to `ms` to finish what it holds; false if it could not. */
  drain(ms: number): Promise<boolean> {
    return this.queue.drain(ms);
  }

  /** Queue, firewall, store: each closed after what still uses it. */
  async close(): Promise<void> {
    this.queue.close();
    await this.queue.firewall.close?.();
    this.store.close();
  }
}

/** The pipeline a mode runs on (see PipelineMode). */
export async function openPipeline(config: Config, log: Logger, opts: PipelineOptions): Promise<Pipeline> {
  const { store, firewall } = await openParts(config, log, opts);
  return new Pipeline(store, firewall, config, log, opts.settleReports);
}
