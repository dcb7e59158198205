import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "../log.js";
import { parseRedisTarget, withAccess, type RedisAccess, type RedisTarget } from "./redis-target.js";

/** One Redis (maybe found through Sentinel), or a Redis Cluster: the commands we use exist on both. */
export type RedisClient = Redis | Cluster;

/** A client for the target with our options over the target's. */
function redisClient(target: RedisTarget, options: RedisOptions): RedisClient {
  // ioredis sets tls from a rediss:// URL itself; ours (a CA, a client certificate) goes over it.
  if (target.kind === "url") return new Redis(target.url, { ...(target.tls ? { tls: target.tls } : {}), ...options });
  if (target.kind === "sentinel") return new Redis({ ...target.options, ...options });
  // The cluster queues nothing and retries as we say; each node's own connection
  // keeps ioredis's offline queue and retries, which its slot discovery needs.
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...node } = options;
  return new Cluster(target.nodes, {
    lazyConnect,
    enableOfflineQueue,
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    redisOptions: { ...target.options, ...node },
  });
}

// Redis gone: try again soon, never faster than this, never slower than the cap.
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;
// A stopped (not closed) Redis answers nothing: give up on a command after this long.
const COMMAND_TIMEOUT_MS = 5_000;

/**
 * A connection of its own for one catch-up's reads of the snapshot (on the
 * reader's thread): it waits for its first connect, and never reconnects: a
 * catch-up whose connection went away fails, and the applier starts it again.
 */
export function catchUpClient(access: RedisAccess): RedisClient {
  const client = redisClient(withAccess(parseRedisTarget(access.url), access), {
    lazyConnect: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 3_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectionName: "iblock-catchup",
    retryStrategy: () => null,
  });
  // A failure reaches the catch-up through its commands; unhandled, the library would print it.
  client.on("error", () => undefined);
  return client;
}

/** The first "ready" (undefined), "error" (the error) or nothing within `ms` (undefined) of a client. */
function firstOutcome(client: RedisClient, ms: number): Promise<Error | undefined> {
  if (client.status === "ready") return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = (e?: Error): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("error", onError);
      resolve(e);
    };
    const onReady = (): void => done();
    const onError = (e: Error): void => done(e);
    const timer = setTimeout(done, ms);
    client.once("ready", onReady);
    client.once("error", onError);
  });
}

/** The address a single Redis connection is connected to; a Cluster has one per node, and none here. */
function addressOf(client: RedisClient): string | undefined {
  if (client instanceof Cluster) return undefined;
  const { remoteAddress, remotePort } = client.stream;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return remoteAddress.includes(":") ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

/** Up or down, said once per outage and once per recovery. */
export interface LinkState {
  up: boolean;
  /** ms since the epoch of the last change; 0 before the first connect. */
  since: number;
  /** The last error while down. */
  error?: string;
}

/**
 * The two connections to Redis: one for commands, one held by the blocking
 * read. Commands fail at once while Redis is away (no offline queue: the
 * outbox is our queue), and the client reconnects by itself.
 */
export class RedisLink {
  readonly commands: RedisClient;
  readonly reader: RedisClient;
  readonly state: LinkState = { up: false, since: 0 };
  private readonly readyWaiters = new Set<() => void>();
  /** ms since the epoch of Redis's last reply that we know of (the connect, a probe). */
  lastAnswerAt = 0;
  /** host:port of the Redis our commands go to (behind Sentinel: the primary it named); undefined for a Cluster or before the first connect. */
  primary: string | undefined;
  private everUp = false;
  private closing = false;

  constructor(
    access: RedisAccess,
    private readonly log: Logger,
    onReady: () => void,
    /** The primary's address changed between two connects (a failover). */
    onPrimaryChange: () => void = () => undefined,
  ) {
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 3_000,
      retryStrategy: (n: number) => Math.min(RETRY_MIN_MS * n, RETRY_MAX_MS),
    };
    // A URL, the sentinels to ask for the master (asked again after every disconnect:
    // a failover is an outage like any other), or a cluster's nodes.
    const target = withAccess(parseRedisTarget(access.url), access);
    this.commands = redisClient(target, { ...common, commandTimeout: COMMAND_TIMEOUT_MS, connectionName: "iblock" });
    this.reader = redisClient(target, { ...common, blockingTimeout: COMMAND_TIMEOUT_MS, connectionName: "iblock-reader" });
    // Errors are reported by state, once per outage; unhandled they would be printed by the library.
    this.reader.on("error", () => undefined);
    this.commands.on("error", (e: Error) => this.down(e.message));
    this.commands.on("close", () => this.down("connection closed"));
    this.commands.on("ready", () => {
      const wasDown = this.everUp && !this.state.up;
      const outage = Date.now() - this.state.since;
      this.state.up = true;
      this.state.since = Date.now();
      this.lastAnswerAt = this.state.since;
      delete this.state.error;
      if (wasDown) this.log.info(`cluster: Redis is back after ${(outage / 1000).toFixed(1)} s; publishing what waited and reading on`);
      else this.log.info(`cluster: connected to Redis`);
      const primary = addressOf(this.commands);
      // One line per failover: the reconnect attempts before it say nothing more than the outage's line.
      if (this.primary !== undefined && primary !== undefined && primary !== this.primary) {
        this.log.info(`cluster: Redis's primary is now ${primary} (was ${this.primary}): a failover`);
        onPrimaryChange();
      }
      this.primary = primary ?? this.primary;
      this.everUp = true;
      for (const w of this.readyWaiters) w();
      this.readyWaiters.clear();
      onReady();
    });
  }

  private down(why: string): void {
    if (this.closing) return;
    if (!this.state.up && this.state.since !== 0) {
      this.state.error = why;
      return;
    }
    const first = this.state.since === 0;
    this.state.up = false;
    this.state.since = Date.now();
    this.state.error = why;
    this.log.warn(`cluster: Redis unreachable (${why}); banning locally as always, our bans wait in the outbox${first ? "" : " until it is back"}`);
  }

  /**
   * Whether Redis answers a PING within `timeoutMs`. A stopped (SIGSTOP) or
   * wedged Redis keeps its connection open and answers nothing: the state
   * alone would say "up" for as long as it stays so.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    if (!this.state.up) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const ping = this.commands.ping().then(
      () => true,
      () => false,
    );
    try {
      const answered = await Promise.race([ping, late]);
      if (answered) this.lastAnswerAt = Date.now();
      return answered;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The command connection when it is one Redis (plain, or the master Sentinel
   * named), where ROLE and WAIT speak of the primary our writes went to.
   * Undefined for a Cluster: its client sends a keyless command (WAIT, ROLE)
   * to any master, not to the fleet's slot's, and a WAIT on a connection that
   * wrote nothing answers at once with every replica: a false "replicated".
   */
  get singlePrimary(): Redis | undefined {
    return this.commands instanceof Cluster ? undefined : this.commands;
  }

  /** Start connecting; resolves at once (a Redis down at start is an outage like any other). */
  connect(): void {
    this.commands.connect().catch(() => undefined);
    this.reader.connect().catch(() => undefined);
  }

  /**
   * How the first connect ended: undefined once ready, or on an error (an
   * outage: Redis down at start starts as always), or after `ms`; the error
   * itself when `refuses` says it is one no retry heals. Both connections are
   * waited for: closing one in the middle of its TLS handshake leaves a
   * socket whose late error nobody handles.
   */
  async firstConnect(ms: number, refuses: (e: Error) => boolean): Promise<Error | undefined> {
    const outcomes = await Promise.all([firstOutcome(this.commands, ms), firstOutcome(this.reader, ms)]);
    return outcomes.find((e) => e !== undefined && refuses(e));
  }

  /** Resolves when the command connection is ready, or after `ms`. */
  whenUp(ms: number): Promise<void> {
    if (this.state.up) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.readyWaiters.add(done);
    });
  }

  close(): void {
    this.closing = true;
    this.commands.disconnect();
    this.reader.disconnect();
    for (const w of this.readyWaiters) w();
  }
}
