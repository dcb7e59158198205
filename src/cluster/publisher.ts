import type { BanChange } from "../bans/changes.js";
import type { Logger } from "../log.js";
import { prefixKey } from "../net/address.js";
import type { Store } from "../store/store.js";
import type { RedisLink } from "./connection.js";
import type { FleetKeys } from "./keys.js";
import { sign, snapshotDetail, type Message, type Signed } from "./message.js";
import type { ClusterMetrics } from "./metrics.js";
import type { ClusterStore } from "./outbox.js";
import { nextSeq, SEQ_PER_MS } from "./seq.js";
import { PUBLISH_SCRIPT } from "./publish-script.js";
import { refusedCommand, REPLICA_WAIT_MS, replication, type Replication } from "./replication.js";

// Messages per script call: one round trip for a storm's second.
const BATCH = 500;
// About a day of a busy fleet; "~" lets Redis trim by whole nodes (cheap).
export const STREAM_MAXLEN = 1_000_000;
const RETRY_MS = 1_000;

export interface PublisherOptions {
  node: string;
  fleet: string;
  secret: Buffer;
  share: readonly string[];
  keys: FleetKeys;
  /** clock_skew: our sequence further ahead of our clock than this is refused by every peer. */
  skewMs: number;
}

/**
 * Our bans and unbans (of the sources in `share`) to the fleet: into the
 * outbox first, then to Redis in batches, in order; deleted from the outbox
 * once Redis has them, and a replica of Redis's primary too when it has one
 * (replication is asynchronous: a primary that dies before its replica got
 * a batch would take it with it in the failover). One send in flight at a time.
 */
export class Publisher {
  private fresh: Signed[] = [];
  private scheduled = false;
  private sending: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Since when (ms) no replica has taken our batches; undefined while one does, or there is none. */
  private unreplicatedSince: number | undefined;
  private saidRefused = false;
  private readonly storeId: string;
  /** The sequence of the last message signed (seq.ts). */
  private seq: number;

  constructor(
    private readonly opts: PublisherOptions,
    private readonly outbox: ClusterStore,
    private readonly store: Store,
    private readonly link: RedisLink,
    private readonly log: Logger,
    private readonly metrics: ClusterMetrics,
  ) {
    this.storeId = outbox.storeId;
    this.seq = outbox.lastSeq;
  }

  /** The queue's change feed: synchronous and cheap, the writing happens a tick later, batched. */
  readonly onChange = (c: BanChange): void => {
    const m = this.messageFor(c);
    if (!m) return;
    this.seq = this.nextSequence();
    this.fresh.push(sign(this.opts.secret, this.opts.fleet, { ...m, seq: String(this.seq) }));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.persist();
      this.kick();
    });
  };

  /**
   * The sequence after ours. Ours may run ahead of the clock: a clock since
   * set back, or one a forger under our name pushed us past. Further ahead
   * than the skew, peers refuse every message until the clock catches up:
   * start again from the clock, and say so (peers refuse ours until it passes
   * what they last took from us, the skew at most).
   */
  private nextSequence(): number {
    const now = Date.now();
    if (this.seq > (now + this.opts.skewMs) * SEQ_PER_MS) {
      this.log.warn(`cluster: our message sequence ${this.seq} is more than clock_skew ahead of our clock: starting again from the clock`);
      return now * SEQ_PER_MS;
    }
    return nextSeq(this.seq, now);
  }

  /** Our last sequence signed. */
  get sequence(): number {
    return this.seq;
  }

  /** Our next message is signed after `seq` (one under our name that we did not sign). */
  passSequence(seq: number): void {
    if (seq <= this.seq) return;
    this.seq = seq;
    // Kept: after a restart our next is still past it (peers took it as our last).
    this.outbox.lastSeq = seq;
  }

  private messageFor(c: BanChange): Omit<Message, "seq"> | undefined {
    // A peer's ban is never sent on (no echo, no loop); nor one asked to stay here.
    // Said before anything is made: a catch-up tells a million peers' bans.
    if (c.kind === "ban" && !this.opts.share.includes(c.source)) return undefined;
    const base = { origin: this.opts.node, prefix: prefixKey(c.prefix), at: String(c.at) };
    if (c.kind === "ban") {
      return { ...base, kind: "ban", expires: c.expiresAt === null ? "" : String(c.expiresAt), reason: c.source + (c.reason ? `: ${c.reason}` : ""), port: c.port ? String(c.port) : "" };
    }
    // Every host expires a ban by itself, and narrows its own covered bans.
    if (c.ending === "expired" || c.ending === "covered" || c.ending === "peer") return undefined;
    // An unban says nothing of the ban's source: the store does (the ban just ended).
    const ended = this.store.lastBan(c.prefix);
    if (!ended || !this.opts.share.includes(ended.source)) return undefined;
    return { ...base, kind: "unban", expires: "", reason: c.reason, port: "" };
  }

  /** What changed this tick, into the outbox in one transaction. */
  private persist(): void {
    if (this.fresh.length === 0) return;
    const batch = this.fresh;
    this.fresh = [];
    try {
      this.outbox.add(batch);
    } catch (e) {
      // The store is down: keep them in memory (bounded by what the queue keeps) and try again.
      this.fresh = batch.concat(this.fresh);
      this.log.warn(`cluster: cannot write the outbox (${(e as Error).message}); retrying`);
    }
  }

  /** Send what the outbox holds, unless a send is already under way. */
  kick(): void {
    if (this.stopped || this.sending) return;
    this.sending = this.sendAll()
      .catch((e: Error) => {
        this.metrics.publishFailed();
        // Said once per outage by the link; a failure with the link up is worth a line.
        if (this.link.state.up) this.log.warn(`cluster: publishing failed, retrying: ${e.message}`);
        clearTimeout(this.retryTimer);
        if (!this.stopped) this.retryTimer = setTimeout(() => this.kick(), RETRY_MS);
      })
      .finally(() => (this.sending = undefined));
  }

  private async sendAll(): Promise<void> {
    for (;;) {
      if (this.fresh.length) this.persist();
      const rows = this.outbox.head(BATCH);
      if (rows.length === 0 || this.stopped) return;
      const args: (string | number)[] = [STREAM_MAXLEN, this.opts.node, this.storeId, Date.now(), rows.length];
      for (const { id, message: m } of rows) {
        args.push(id, m.kind, m.prefix, m.expires, m.reason, m.port, m.at, m.seq, m.hmac, snapshotDetail(this.opts.fleet, m));
      }
      const k = this.opts.keys;
      const primary = this.link.singlePrimary;
      // Redis keeps the compiled script by its hash: sending the text costs 2 KB a batch, not a compile.
      // ROLE rides in the same round trip: whether the primary has a replica to wait for.
      const [, role] = await Promise.all([this.link.commands.eval(PUBLISH_SCRIPT, 5, k.events, k.bans, k.details, k.published, k.nodes, ...args), primary?.role().catch(this.refused)]);
      // A Cluster's batch (see singlePrimary) is forgotten as soon as its shard's master has it, as before.
      const state = primary ? await replication(primary, role).catch((e: unknown) => (this.refused(e), "no replica" as const)) : "no replica";
      if (state === "unreplicated") {
        this.unreplicated(rows.length);
        return;
      }
      this.replicatedAgain(state);
      this.outbox.sent((rows[rows.length - 1] as { id: number }).id);
    }
  }

  /**
   * The primary took the batch and its peers read it, but no replica has it
   * yet: it stays in the outbox and goes again shortly (the published mark
   * makes Redis skip what it has, so a resend adds nothing twice; after a
   * failover, the new primary takes what it lacks). Said once per episode.
   * A batch is the outbox's head: past BATCH messages waiting for a replica,
   * newer ones wait with them, until a replica answers or the primary drops it
   * (repl-timeout) and has none.
   */
  private unreplicated(messages: number): void {
    if (this.unreplicatedSince === undefined) {
      this.unreplicatedSince = Date.now();
      this.log.warn(
        `cluster: no replica of Redis's primary took our last ${messages} message(s) within ${REPLICA_WAIT_MS / 1000} s: they stay in the outbox and are sent again until one does (a failover meanwhile would lose them otherwise)`,
      );
    }
    clearTimeout(this.retryTimer);
    if (!this.stopped) this.retryTimer = setTimeout(() => this.kick(), RETRY_MS);
  }

  /**
   * ROLE or WAIT refused by Redis (see refusedCommand): batches are forgotten
   * once the primary has them, as with no replica, rather than held for ever;
   * said once. Any other failure is the send's, retried with the rows kept.
   */
  private readonly refused = (e: unknown): undefined => {
    if (!refusedCommand(e)) throw e;
    if (!this.saidRefused) {
      this.saidRefused = true;
      this.log.warn(`cluster: Redis refused ROLE or WAIT (${(e as Error).message}): our messages are forgotten once the primary has them, and a failover may lose the last ones; give the fleet's Redis user +role +wait (docs/redis-acl.md)`);
    }
    return undefined;
  };

  /** The end of an episode of unreplicated batches, said once. */
  private replicatedAgain(state: Exclude<Replication, "unreplicated">): void {
    if (this.unreplicatedSince === undefined) return;
    const after = `after ${((Date.now() - this.unreplicatedSince) / 1000).toFixed(1)} s`;
    this.unreplicatedSince = undefined;
    if (state === "replicated") this.log.info(`cluster: a replica of Redis's primary has our messages again, ${after}`);
    else this.log.info(`cluster: Redis's primary has no replica online now (${after}): our messages are forgotten once it has them`);
  }

  /** Our heartbeat for `iblock cluster status`; errors count as an outage already said. */
  async heartbeat(): Promise<void> {
    if (!this.link.state.up) return;
    await this.link.commands.hset(this.opts.keys.nodes, `seen:${this.opts.node}`, String(Date.now())).catch(() => undefined);
  }

  /** Pending messages go to the outbox; they are sent at the next start. */
  async stop(waitMs: number): Promise<void> {
    this.persist();
    const deadline = Date.now() + waitMs;
    while (this.sending !== undefined && Date.now() < deadline) {
      await Promise.race([this.sending, new Promise((r) => setTimeout(r, 50))]);
      if (this.sending === undefined && this.outbox.size() > 0 && this.link.state.up) this.kick();
    }
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }
}
