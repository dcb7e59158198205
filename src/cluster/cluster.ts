import type { BanQueue } from "../bans/queue.js";
import type { Logger } from "../log.js";
import type { Policy } from "../policy/policy.js";
import type { Store } from "../store/store.js";
import { PeerApplier, type PeerApplierStatus } from "./peer-applier.js";
import { checkNodeName, readSecret, type ClusterConfig } from "./config.js";
import { RedisLink } from "./connection.js";
import { redisPassword } from "./redis-password.js";
import { readRedisTls, tlsVerifyError } from "./redis-tls.js";
import { configError } from "../errors.js";
import { fleetKeys, type FleetKeys } from "./keys.js";
import { ClusterMetrics } from "./metrics.js";
import { ClusterStore } from "./outbox.js";
import { Publisher } from "./publisher.js";
import { isoTime, timeMs } from "../time-text.js";

const HEARTBEAT_MS = 10_000;
// How long `iblock stats` and `cluster status` wait for Redis's PING reply before saying it is not answering.
export const PROBE_MS = 2_000;
// A peer that said nothing for this long is not "seen recently".
const RECENT_MS = 5 * 60_000;
// At stop, what the outbox holds may go out for this long; the rest waits for the next start.
const STOP_SEND_MS = 2_000;
// At start over TLS, how long the first connect may take to say whether Redis's certificate verifies.
const FIRST_CONNECT_MS = 5_000;

/** The fleet as `iblock stats` shows it. */
export interface ClusterStatus extends PeerApplierStatus {
  fleet: string;
  node: string;
  redis: "up" | "down";
  /** Since when Redis has been up or down (ISO). */
  since: string | null;
  error?: string;
  outbox: number;
  /** host:port our commands go to (behind Sentinel, the primary it named); null for a Cluster or before the first connect. */
  primary: string | null;
}

/** `iblock cluster status`: the status and what Redis says of the other hosts. */
export interface ClusterView extends ClusterStatus {
  peers: { node: string; seen: string | null; last_ban: string | null; recent: boolean }[];
}

// 0 is what a link that was never up says of its time: nothing yet.
const iso = (ms: number | string | undefined): string | null => (ms === undefined || ms === 0 ? null : isoTime(ms));

const msOf = (v: number | string | undefined): number => (v === undefined ? 0 : (timeMs(v) ?? 0));

/**
 * The later of two times said of a peer; what is no time (Redis holds any
 * text) only when there is nothing better, so it is shown as it came.
 */
function later(a: number | string | undefined, b: number | string): number | string {
  if (a === undefined) return b;
  const [x, y] = [timeMs(a), timeMs(b)];
  if (x === undefined) return y === undefined ? a : y;
  return y === undefined ? x : Math.max(x, y);
}

/**
 * The daemon's part in a fleet: publishes our bans, applies our peers'.
 * Without a [cluster] section there is none; with one, a Redis outage never
 * touches local banning.
 */
export class Cluster {
  private readonly link: RedisLink;
  private readonly keys: FleetKeys;
  private readonly outbox: ClusterStore;
  private readonly publisher: Publisher;
  private readonly applier: PeerApplier;
  private unlisten: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly verifiesTls: boolean;
  /** The fleet's part of /metrics: the daemon registers it when [http] is on. */
  readonly metrics: ClusterMetrics;

  /**
   * Reads the secret and the Redis password: a missing or readable-by-others
   * secret, or a password in a config file (`configFile`) others may read,
   * refuses the start (exit 78).
   */
  constructor(
    private readonly config: ClusterConfig,
    store: Store,
    private readonly queue: BanQueue,
    policy: Policy,
    log: Logger,
    configFile: string,
  ) {
    checkNodeName(config);
    const secret = readSecret(config.secret_file);
    const password = redisPassword(config, configFile);
    const tls = readRedisTls(config);
    this.verifiesTls = /^rediss/.test(config.redis);
    const access = { url: config.redis, ...(password === undefined ? {} : { password }), ...(tls === undefined ? {} : { tls }) };
    this.keys = fleetKeys(config.name);
    this.outbox = new ClusterStore(store.database);
    this.metrics = new ClusterMetrics({
      redisUp: () => this.link.state.up,
      outbox: () => this.outbox.size(),
      lagMs: () => this.applier.status.lag_ms,
    });
    this.link = new RedisLink(
      access,
      log,
      () => {
        this.applier.reconnected();
        this.publisher.kick();
        void this.publisher.heartbeat();
      },
      () => this.metrics.primaryChanged(),
    );
    const common = { node: config.node, fleet: config.name, secret, keys: this.keys, share: config.share };
    this.publisher = new Publisher({ ...common, skewMs: config.clock_skew }, this.outbox, store, this.link, log, this.metrics);
    this.applier = new PeerApplier(
      { ...common, redis: access, minV4: config.peer_min_prefix_v4, minV6: config.peer_min_prefix_v6, skewMs: config.clock_skew,
        catchUpIntervalMs: config.catchup_interval,
        passSequence: (seq) => this.publisher.passSequence(seq),
        ownSequence: () => this.publisher.sequence,
      },
      this.outbox,
      store,
      queue,
      policy,
      this.link,
      log,
      this.metrics,
    );
  }

  /**
   * Connects and joins. Over TLS, a first connect that fails because a
   * certificate does not verify refuses the start (exit 78) with the reason:
   * a wrong CA or name is a setup to fix, or someone in between, and no retry
   * heals it. A Redis merely down is an outage, as without TLS; so is a
   * certificate that stops verifying later (local banning must not stop).
   */
  async start(): Promise<void> {
    this.link.connect();
    if (this.verifiesTls) {
      const refused = await this.link.firstConnect(FIRST_CONNECT_MS, tlsVerifyError);
      if (refused) {
        this.link.close();
        throw configError(`cluster: Redis's TLS connection refused: ${refused.message} (check tls_ca_file, the host name in "redis" against Redis's certificate, and tls_cert_file/tls_key_file)`);
      }
    }
    this.unlisten = this.queue.changes.on(this.publisher.onChange);
    this.applier.start();
    this.heartbeat = setInterval(() => void this.publisher.heartbeat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Resolves once a catch-up from the snapshot under way, if any, is over. */
  caughtUp(): Promise<void> {
    return this.applier.caughtUp();
  }

  /** A catch-up from the snapshot is under way. */
  get catchingUp(): boolean {
    return this.applier.catchingUpNow;
  }

  /** Redis asked now (a PING, at most PROBE_MS): connected is not enough to say "up". */
  async status(): Promise<ClusterStatus> {
    const s = this.link.state;
    const answering = await this.link.probe(PROBE_MS);
    // Connected but silent: down since its last reply.
    const silent = s.up && !answering;
    return {
      fleet: this.config.name,
      node: this.config.node,
      redis: answering ? "up" : "down",
      since: iso(silent ? this.link.lastAnswerAt : s.since),
      ...(silent ? { error: `not answering: no reply to PING within ${PROBE_MS / 1000} s` } : s.error && !s.up ? { error: s.error } : {}),
      outbox: this.outbox.size(),
      primary: this.link.primary ?? null,
      ...this.applier.status,
    };
  }

  async view(): Promise<ClusterView> {
    const status = await this.status();
    const seen = new Map<string, { seen?: number | string; ban?: number | string }>();
    for (const [node, mark] of this.applier.peers.marks) seen.set(node, { ban: mark.at });
    if (status.redis === "up") {
      const all = await this.link.commands.hgetall(this.keys.nodes).catch(() => ({}));
      for (const [field, value] of Object.entries(all)) {
        const m = /^(seen|ban):(.+)$/.exec(field);
        if (!m || m[2] === this.config.node) continue;
        const entry = seen.get(m[2] as string) ?? {};
        const kind = m[1] as "seen" | "ban";
        entry[kind] = later(entry[kind], value);
        seen.set(m[2] as string, entry);
      }
    }
    const now = Date.now();
    const peers = [...seen]
      .map(([node, e]) => ({ node, seen: iso(e.seen), last_ban: iso(e.ban), recent: Math.max(msOf(e.seen), msOf(e.ban)) > now - RECENT_MS }))
      .sort((a, b) => a.node.localeCompare(b.node));
    return { ...status, peers };
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    const stopping = this.applier.stop();
    this.unlisten?.();
    await this.publisher.stop(STOP_SEND_MS);
    this.link.close();
    await stopping;
  }
}
