import type { BanQueue } from "../bans/queue.js";
import type { Logger } from "../log.js";
import { formatPrefix, prefixKey } from "../net/address.js";
import { formatDuration } from "../policy/duration.js";
import { isoTime } from "../time-text.js";
import type { Policy } from "../policy/policy.js";
import type { ImportEntry, Store } from "../store/store.js";
import type { RedisLink } from "./connection.js";
import { compareIds, idMs, type FleetKeys } from "./keys.js";
import { LiftedBans } from "./lifted.js";
import { fieldsOf, quote, verify, type Verified } from "./message.js";
import { catchUpFromSnapshot, openSnapshot } from "./snapshot/catch-up.js";
import type { SnapshotEntry } from "./snapshot/entry.js";
import type { SnapshotReader } from "./snapshot/reader.js";
import type { ClusterMetrics, RefusalReason } from "./metrics.js";
import type { ClusterStore } from "./outbox.js";
import { changesNothing, PeerMarks } from "./peer-marks.js";
import { PeerRules } from "./peer-rules.js";
import { aheadOfClock } from "./seq.js";
import { streamInfo } from "./stream-info.js";
import type { RedisAccess } from "./redis-target.js";

// Entries per read; the read blocks this long when there are none.
const READ_COUNT = 500;
const BLOCK_MS = 2_000;
// Refusals said one by one in a catch-up; past this, only counted (the summary line says how many).
const MAX_REFUSAL_LINES = 100;
// How far back a host's clock may seem to go between its ban and its unban (NTP steps).
const REPLAY_SKEW_MS = 60_000;

/** Where a message came from, for a refusal's line; a function when only a refusal needs it. */
type Where = string | (() => string);

export interface PeerApplierOptions {
  /** The fleet's Redis, for the catch-up's own connection. */
  redis: RedisAccess;
  node: string;
  fleet: string;
  secret: Buffer;
  keys: FleetKeys;
  share: readonly string[];
  minV4: number;
  minV6: number;
  /** How far ahead of our clock a message may be dated (clock_skew). */
  skewMs: number;
  /** The least time between two catch-ups a trimmed stream forces (catchup_interval). */
  catchUpIntervalMs: number;
  /** A message with our name and a later sequence than ours was read: our next must pass it. */
  passSequence: (seq: number) => void;
  /** Our last sequence signed. */
  ownSequence: () => number;
}

export interface PeerApplierStatus {
  last_id: string | null;
  /** Origin's ban to our queue for the last message applied, in ms. */
  lag_ms: number | null;
  applied: number;
  refused: number;
  catchups: number;
}

/**
 * The fleet's stream to our queue: a blocking read from the last id applied
 * (kept in the store), each message verified and checked against our own
 * rules, then banned with source "peer" and the peer's expiry. Catches up
 * from the snapshot when it has no position, or the stream was trimmed past it.
 */
/** A peer's ban as shown (log, list, API): its origin first, then its own reason; code reads the origin column. */
const peerReason = (m: { origin: string; reason: string }): string => `${m.origin}: ${m.reason}`;

export class PeerApplier {
  private lastId: string | undefined;
  private needsCheck = true;
  private stopped = false;
  private running: Promise<void> | undefined;
  /** The catch-up's reader while one is under way. */
  private reader: SnapshotReader | undefined;
  private catchingUp: Promise<void> | undefined;
  /** Refusal lines said in the catch-up under way; undefined outside one (every refusal said). */
  private refusalLines: number | undefined;
  /** The last message read from each peer's stream: its sequence is the replay check. */
  readonly peers: PeerMarks;
  /** Our own rules over a peer's ban. */
  private readonly rules: PeerRules;
  /** The unbans heard: a ban they lifted is refused from the snapshot too. */
  private readonly lifted: LiftedBans;
  /** When the last catch-up started (ms); a trimmed stream forces the next no sooner than catchUpIntervalMs after. */
  private lastCatchUpAt = -Infinity;
  /** A catch-up a trimmed stream asked for within the interval: made at `at` (kept in the store until made). */
  private owedCatchUp: { at: number; why: string } | undefined;
  readonly status: PeerApplierStatus = { last_id: null, lag_ms: null, applied: 0, refused: 0, catchups: 0 };

  constructor(
    private readonly opts: PeerApplierOptions,
    private readonly position: ClusterStore,
    private readonly store: Store,
    private readonly queue: BanQueue,
    policy: Policy,
    private readonly link: RedisLink,
    private readonly log: Logger,
    private readonly metrics: ClusterMetrics,
  ) {
    this.lastId = position.lastId;
    this.rules = new PeerRules(opts.minV4, opts.minV6, policy);
    this.peers = new PeerMarks(position.peerMarks, opts.skewMs, log);
    this.lifted = new LiftedBans(position.liftedBans());
    // Owed before a restart: the stream was read on past what it lost, so only the snapshot can tell it.
    const owed = position.owedCatchUp;
    if (owed !== undefined) this.owedCatchUp = { at: 0, why: `${owed}, owed since before the restart` };
    this.status.last_id = this.lastId ?? null;
  }

  start(): void {
    this.running = this.loop();
  }

  /** After an outage: the stream may have been trimmed meanwhile. */
  reconnected(): void {
    this.needsCheck = true;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (!this.link.state.up) {
        await this.link.whenUp(1_000);
        continue;
      }
      // The reading connection comes up on its own, a moment apart.
      if (this.link.reader.status !== "ready") {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        // A position ahead of the clock came from an entry id someone chose; if
        // the stream is then replaced, every new id is before it: look each round.
        if (this.lastId !== undefined && idMs(this.lastId) > Date.now() + this.opts.skewMs) this.needsCheck = true;
        if (this.needsCheck) {
          await this.checkPosition();
          this.needsCheck = false;
        }
        if (this.owedCatchUp && Date.now() >= this.owedCatchUp.at) {
          const { why } = this.owedCatchUp;
          this.owedCatchUp = undefined;
          // Then the stream on from where we read to: its unbans since are still applied.
          await this.catchUp(this.lastId ?? "0", why);
        }
        await this.readOnce();
      } catch (e) {
        // Redis went away mid-read (said once by the link); look again where we are when it is back.
        this.needsCheck = true;
        if (this.link.state.up && !this.stopped) this.log.warn(`cluster: reading the fleet's stream: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async readOnce(): Promise<void> {
    const from = this.lastId ?? "0";
    const res = (await this.link.reader.xread("COUNT", READ_COUNT, "BLOCK", BLOCK_MS, "STREAMS", this.opts.keys.events, from));
    const entries = res?.[0]?.[1];
    if (!entries?.length || this.stopped) return;
    this.rules.newBatch();
    for (const [id, flat] of entries) await this.handle(fieldsOf(flat), `entry ${id}`);
    // Recorded once the queue has them in the store: a restart resumes after them, not before.
    await this.queue.flushed();
    this.setPosition((entries[entries.length - 1] as [string, string[]])[0]);
  }

  /** Kept first, then taken as ours: a write that fails keeps what it would have written for the next. */
  private setPosition(id: string): void {
    const lifted = this.lifted.fresh();
    this.position.keep(id, this.peers.changed ? this.peers.marks : undefined, lifted);
    this.lifted.written(lifted.length);
    this.peers.changed = false;
    this.lastId = id;
    this.status.last_id = id;
  }

  /** Where to read from: our stored id, unless the stream lost entries after it. */
  private async checkPosition(): Promise<void> {
    const info = await streamInfo(this.link.reader, this.opts.keys.events);
    const last = this.lastId;
    if (last === undefined) {
      await this.catchUp(info.lastGenerated, "no position in the stream yet");
      return;
    }
    // The stream ends before our position: it was deleted or replaced, and all
    // its entries are new to us (a copy of an old one is refused by its sequence).
    // Read it from its start; the snapshot tells what the old one held after us.
    if (compareIds(last, info.lastGenerated) > 0) {
      this.setPosition("0-0");
      await this.trimmedPast(info.lastGenerated, `the stream ends at ${info.lastGenerated}, before our position ${last}: it was deleted or replaced`);
      return;
    }
    // Redis 7.0 counts XDEL in max-deleted-entry-id but not XTRIM (MAXLEN): when
    // entries were ever removed and the oldest left (or, empty, the newest made)
    // is after ours, what lay between may be gone. A catch-up too many costs a
    // read of the snapshot; one too few would lose bans.
    const removed = info.added > info.length;
    const oldestAfterUs = info.first === undefined ? compareIds(info.lastGenerated, last) > 0 : compareIds(info.first, last) > 0;
    if (compareIds(info.maxDeleted, last) > 0 || (removed && oldestAfterUs)) {
      await this.trimmedPast(info.lastGenerated, `the stream was trimmed past our position ${last}`);
    }
  }

  /**
   * The stream lost entries after our position: catch up from the snapshot,
   * at most once per catchup_interval. Anyone who can write to Redis can trim
   * the stream and drop our connection, each time costing every host a
   * catch-up (seconds of CPU at a million bans); within the interval we read
   * on from the oldest entry left and catch up when it is over.
   */
  private async trimmedPast(streamAt: string, why: string): Promise<void> {
    const next = this.lastCatchUpAt + this.opts.catchUpIntervalMs;
    if (Date.now() >= next) return this.catchUp(streamAt, why);
    if (this.owedCatchUp) return;
    this.owedCatchUp = { at: next, why };
    this.position.owedCatchUp = why;
    this.log.warn(
      `cluster: ${why} within catchup_interval (${formatDuration(this.opts.catchUpIntervalMs)}) of the last catch-up: reading on from the oldest entry left, catching up from the snapshot at ${isoTime(next)}`,
    );
  }

  /**
   * Every ban in force in the snapshot (snapshot/catch-up.ts), then the stream
   * from where it stood before; what the stream repeats of the snapshot is
   * found banned and skipped.
   */
  private catchUp(streamAt: string, why: string): Promise<void> {
    const running = this.catchUpNow(streamAt, why).finally(() => {
      if (this.catchingUp === running) this.catchingUp = undefined;
    });
    this.catchingUp = running;
    return running;
  }

  /** A catch-up is under way. */
  get catchingUpNow(): boolean {
    return this.catchingUp !== undefined;
  }

  /** Resolves once the catch-up under way, if any, is over (done, failed or stopped). */
  caughtUp(): Promise<void> {
    return (this.catchingUp ?? Promise.resolve()).catch(() => undefined);
  }

  private async catchUpNow(streamAt: string, why: string): Promise<void> {
    const started = Date.now();
    this.lastCatchUpAt = started;
    this.status.catchups++;
    this.metrics.caughtUp();
    this.log.info(`cluster: catching up from the fleet's snapshot (${why})`);
    const refusedBefore = this.status.refused;
    this.refusalLines = 0;
    const reader = (this.reader = openSnapshot(
      { redis: this.opts.redis, key: this.opts.keys.details, secret: this.opts.secret, fleet: this.opts.fleet },
      this.link.reader,
    ));
    const catchUp = { bansOf: (batch: readonly SnapshotEntry[]) => this.bansOf(batch), importer: this.queue.imports, stopped: () => this.stopped };
    const { seen, applied } = await catchUpFromSnapshot(reader, catchUp).finally(() => {
      this.reader = undefined;
      this.refusalLines = undefined;
    });
    if (this.stopped) return;
    this.status.applied += applied;
    this.metrics.applied(applied);
    if (this.owedCatchUp === undefined) this.position.owedCatchUp = undefined;
    this.setPosition(streamAt);
    const refused = this.status.refused - refusedBefore;
    this.log.info(
      `cluster: caught up from the snapshot: ${seen} ban(s) read, ${applied} applied${refused ? `, ${refused} refused` : ""}, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }

  /** The bans to import of a batch of snapshot entries: refused, ours and expired ones left out. */
  private bansOf(batch: readonly SnapshotEntry[]): ImportEntry[] {
    this.rules.newBatch();
    const now = Date.now();
    const bans: ImportEntry[] = [];
    for (const entry of batch) {
      const m = this.toImport(entry, now);
      if (m) bans.push({ prefix: m.prefix, expires_at: m.expiresAt, reason: peerReason(m), port: m.port ?? null, origin: m.origin });
    }
    return bans;
  }

  /** A checked snapshot entry that is a ban to import, or undefined (refused, ours, expired). */
  private toImport(entry: SnapshotEntry, now: number): Verified | undefined {
    // Made only for a refusal: quoting costs as much as the rest of a good entry's checks.
    const where = (): string => `snapshot entry ${quote(entry.field)}`;
    if (!entry.ok) return void this.refuse(where, entry.why);
    const m = entry.message;
    // Dated ahead, ours or not: refused before anything is done with it.
    const ahead = aheadOfClock(m.at, m.seq, now, this.opts.skewMs);
    if (ahead) return void this.refuse(where, `${m.kind} of ${formatPrefix(m.prefix)} from ${m.origin} is ${ahead}`, "ahead");
    if (m.origin === this.opts.node) return void this.own(m, where);
    if (m.kind !== "ban") return void this.refuse(where, `an ${m.kind} in the snapshot, which holds only bans`);
    // The snapshot's bans are older than the origin's last message, rightly:
    // no mark moves here. A ban that an unban heard here lifted is a copy put back.
    const lifted = this.lifted.liftedAfter(m.prefix, m.origin, m.seq);
    if (lifted !== undefined) return void this.refuse(where, `ban of ${formatPrefix(m.prefix)} from ${m.origin} was lifted by its unban (sequence ${lifted}): a replay`, "replay");
    const refused = this.rules.refusal(m);
    if (refused) return void this.refuse(where, refused.why, refused.reason);
    return m.expiresAt !== null && m.expiresAt <= now ? undefined : m;
  }

  /** `reason`: the metric's label, for the refusals that name their own. */
  private refuse(where: Where, why: string, reason?: RefusalReason): void {
    this.status.refused++;
    this.metrics.refused(why, reason);
    // A snapshot full of refused entries says the first ones, and the count at the end.
    if (this.refusalLines === undefined || this.refusalLines++ < MAX_REFUSAL_LINES) this.log.warn(`cluster: refused ${typeof where === "string" ? where : where()}: ${why}`);
  }

  private async handle(raw: Record<string, string> | string, where: string): Promise<void> {
    if (typeof raw === "string") return this.refuse(where, raw);
    const checked = verify(this.opts.secret, this.opts.fleet, raw);
    if (!checked.ok) return this.refuse(where, checked.why);
    const m = checked.message;
    // Dated ahead: refused before it can move a mark (one would refuse the origin's
    // real messages) or our own sequence.
    const ahead = aheadOfClock(m.at, m.seq, Date.now(), this.opts.skewMs);
    if (ahead) return this.refuse(where, `${m.kind} of ${formatPrefix(m.prefix)} from ${m.origin} is ${ahead}`, "ahead");
    if (m.origin === this.opts.node) return this.own(m, where);
    // Each host signs its messages with a sequence that only grows: one not after
    // the last read from its origin is a copy put back in the stream (a replay).
    const last = this.peers.get(m.origin);
    if (last !== undefined && m.seq <= last.seq) {
      // After a failover its origin sends again what no replica had (publisher.ts): read here already, it changes nothing.
      if (changesNothing(this.store, m)) return;
      return this.refuse(where, `${m.kind} of ${formatPrefix(m.prefix)} from ${m.origin} has sequence ${m.seq}, not after ${last.seq} of its last message: a replay`, "replay");
    }
    this.peers.saw(m);
    if (m.kind === "unban") return this.unban(m, where, last !== undefined);
    // Where no mark could tell (a mark forgotten, an origin new to us): an unban heard still does.
    const lifted = this.lifted.liftedAfter(m.prefix, m.origin, m.seq);
    if (lifted !== undefined) return this.refuse(where, `ban of ${formatPrefix(m.prefix)} from ${m.origin} was lifted by its unban (sequence ${lifted}): a replay`, "replay");
    this.ban(m, where);
  }

  /**
   * Our own messages come back from the stream: skipped. One we never sent
   * (a host with the secret using our name) is said, and skipped too.
   */
  private own(m: Verified, where: Where): void {
    // A later sequence than ours under our name: signed by another holder of the
    // secret, and our peers now refuse our messages up to it. Ours moves past it.
    if (m.seq > this.opts.ownSequence()) {
      this.opts.passSequence(m.seq);
      this.log.warn(`cluster: a message signed with this host's name has sequence ${m.seq}, after ours: another holder of the secret signs as this host; our sequence moves past it`);
    }
    const ours = this.store.lastBan(m.prefix);
    if (!ours || !this.opts.share.includes(ours.source)) {
      this.refuse(where, `origin ${quote(m.origin)} is this host, which never published a ${m.kind} of ${formatPrefix(m.prefix)}`);
    }
  }

  private ban(m: Verified, where: string): void {
    const p = m.prefix;
    const refused = this.rules.refusal(m);
    if (refused) return this.refuse(where, refused.why, refused.reason);
    const now = Date.now();
    if (m.expiresAt !== null && m.expiresAt <= now) return;
    // Banned here already (ours or a peer's, or inside a wider ban): ours stays as it is,
    // and nothing changes, so nothing is sent back.
    if (this.store.isBanned(p) || this.store.coveringBan(p)) return;
    this.status.applied++;
    this.metrics.applied();
    this.status.lag_ms = now - m.at;
    this.queue.submit(
      { prefix: p, port: m.port, source: "peer", reason: peerReason(m), origin: m.origin, durationMs: m.expiresAt === null ? Infinity : m.expiresAt - now, at: now },
      0,
    );
  }

  /**
   * A peer lifts only the ban it made here: not ours, not another peer's, and not
   * one made after its unban (an old unban copied back into the stream).
   */
  private async unban(m: Verified, where: string, marked: boolean): Promise<void> {
    // Whatever it lifts here: a copy of the ban it lifted, in the snapshot, is refused.
    this.lifted.heard({ prefix: prefixKey(m.prefix), origin: m.origin, seq: m.seq, heardAt: Date.now() });
    const open = this.store.openBan(m.prefix);
    if (open?.source !== "peer") return;
    if (open.origin !== m.origin) return this.refuse(where, `unban of ${formatPrefix(m.prefix)} from ${m.origin}, whose ban it is not`);
    // With a mark the sequence told a copy already; without one, the times are all there is.
    if (!marked && m.at < open.first_seen - REPLAY_SKEW_MS) return this.refuse(where, `unban of ${formatPrefix(m.prefix)} from ${m.origin} is older than the ban it would lift: a replay`, "replay");
    this.status.applied++;
    this.metrics.applied();
    await this.queue.unban(m.prefix, "peer", `peer ${m.origin}`).catch((e: Error) => this.log.warn(`cluster: unban of ${formatPrefix(m.prefix)} from ${m.origin}: ${e.message}`));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // A catch-up waiting for a page stops now, not when Redis next answers.
    await this.reader?.close();
    await this.running;
  }
}
