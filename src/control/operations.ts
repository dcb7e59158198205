import { formatPrefix, parsePrefix, type Prefix } from "../net/address.js";
import { IMPORT_MIN_LENGTH, type Policy } from "../policy/policy.js";
import type { BanQueue } from "../bans/queue.js";
import { rowPrefix, type BanRow, type Store } from "../store/store.js";
import { dataError, IblockError, EX_UNAVAILABLE } from "../errors.js";
import { parseDuration } from "../policy/duration.js";
import { canNest, endsLater } from "../bans/nesting.js";
import { offences, plannedExpiry } from "../bans/rules.js";
import type { Feeds } from "../feeds/feeds.js";
import { feedsCommand } from "../feeds/control.js";
import type { ClusterStatus, ClusterView } from "../cluster/cluster.js";
import type { OutboundStatus } from "../outbound.js";
import { isoTime } from "../time-text.js";
import type { ToolSource } from "../bans/tool-sources.js";
import type { ToolChange } from "./protocol.js";
import type { ToolBans, ToolOutcome } from "./tool-bans.js";

/** A row of the store as `iblock list --json` shows it. */
export function banView(r: BanRow): BanView {
  return {
    prefix: r.prefix,
    first_seen: isoTime(r.first_seen) ?? "",
    last_seen: isoTime(r.last_seen) ?? "",
    hits: r.hits,
    port: r.port,
    source: r.source,
    reason: r.reason,
    expires: isoTime(r.expires_at),
  };
}

/** A ban as `iblock list` shows it. */
export interface BanView {
  prefix: string;
  first_seen: string;
  last_seen: string;
  hits: number;
  port: number | null;
  source: string;
  reason: string | null;
  expires: string | null;
}

export interface ShowView {
  query: string;
  prefixes: {
    prefix: string;
    banned: boolean;
    /** Not banned itself, but a wider ban in force holds it. */
    covered_by?: { prefix: string; until: string | null };
    hits: number;
    first_seen: string | null;
    last_seen: string | null;
    ports: { port: number; hits: number }[];
    bans: { from: string; until: string | null; ended: boolean; end_reason: string | null; source: string; port: number | null; hits: number; reason: string | null }[];
  }[];
}

/** What the daemon says of itself in `stats`. */
export interface DaemonStatus extends OutboundStatus {
  state: "starting" | "running";
  /** The event loop's longest stall since the last `stats`, in ms. */
  event_loop_max_ms: number;
  /** While starting: how many stored bans are back in the firewall. */
  restoring?: { restored: number; total: number };
  /** With a [cluster] section: Redis up or down, outbox, position in the fleet's stream. */
  cluster?: ClusterStatus;
}


/** The words `show` and `unban` both use for an address inside a wider ban. */
export function coveredWords(wide: Pick<BanRow, "prefix" | "expires_at">): string {
  return `covered by ${formatPrefix(parsePrefix(wide.prefix))} ${wide.expires_at === null ? "permanently" : `until ${isoTime(wide.expires_at)}`}; unban that prefix`;
}

// A CLI ban waits this long for the firewall before answering; the ban is
// recorded either way and the queue keeps retrying.
const BAN_WAIT_MS = 15_000;

/**
 * What the CLI can ask for. The daemon serves these over its control socket;
 * with no daemon running the CLI runs the same code on the store and firewall
 * itself, so both routes behave alike.
 */
export class Operations {
  /** The daemon's fleet, when it has a [cluster] section. */
  clusterView: (() => Promise<ClusterView>) | undefined;
  /** The daemon's way in for fail2ban and sshguard (they need it running: nothing else applies their releases). */
  tools: ToolBans | undefined;

  constructor(
    private readonly store: Store,
    private readonly queue: BanQueue,
    private readonly policy: Policy,
    /** How long an imported ban lasts without --time: the config's ban_time. */
    private readonly defaultImportMs: number,
    private readonly daemonStatus?: () => Promise<DaemonStatus>,
    private readonly feedControl?: Feeds,
  ) {}

  /** `iblock feeds ...`: only the daemon runs feeds. */
  feeds(action: "list" | "refresh" | "accept", name?: string): Promise<unknown> {
    return feedsCommand(this.feedControl, action, name);
  }

  /** `iblock cluster status`; refused when the daemon is in no fleet. */
  async cluster(): Promise<ClusterView> {
    if (!this.clusterView) throw new IblockError("the daemon has no [cluster] section in its config", EX_UNAVAILABLE);
    return this.clusterView();
  }

  /** A batch of fail2ban's or sshguard's bans and releases. */
  async toolChanges(source: ToolSource, changes: readonly ToolChange[]): Promise<ToolOutcome> {
    if (!this.tools) throw new IblockError(`${source} needs the iblock daemon running`, EX_UNAVAILABLE);
    return this.tools.apply(source, changes);
  }

  /**
   * `time`: "90s" ... "permanent"; default the config's ban_time with escalation.
   * `local`: recorded with source "local", which is never shared with the fleet.
   * `api`: asked through the HTTP API, recorded with source "api" (else "cli").
   * `force`: wider than max_manual_v4/v6 (never over this host's own addresses).
   */
  async ban(address: string, reason?: string, time?: string, opts: { local?: boolean; force?: boolean; api?: boolean } = {}): Promise<string> {
    const durationMs = time === undefined ? undefined : parseDuration(time);
    if (time !== undefined && durationMs === undefined) throw dataError(`bad ban time ${JSON.stringify(time)}: expected e.g. 90s, 15m, 24h, 7d or permanent`);
    const prefix = this.policy.forManual(parsePrefix(address), { force: opts.force });
    const shown = formatPrefix(prefix);
    this.refuseUnnestable(prefix, durationMs);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer from the firewall in ${BAN_WAIT_MS / 1000} s`)), BAN_WAIT_MS).unref(),
    );
    try {
      await Promise.race([this.queue.ban({ prefix, source: opts.local ? "local" : opts.api ? "api" : "cli", reason, durationMs }), timeout]);
    } catch (e) {
      throw new IblockError(
        `${shown} is recorded but not yet in the firewall (it will be retried): ${(e as Error).message}`,
        EX_UNAVAILABLE,
      );
    }
    return shown;
  }

  /**
   * A network ban inside a wider one that ends sooner cannot be held by the
   * firewall (nftables' interval set refuses overlaps): say so rather than
   * answer "banned" for a ban that would end with the wider one.
   */
  private refuseUnnestable(prefix: Prefix, durationMs: number | undefined): void {
    if (this.store.isBanned(prefix)) return;
    const wide = this.store.coveringBan(prefix);
    if (!wide || canNest(prefix, this.store.widerBans(prefix).map(rowPrefix), this.queue.rules.lengths)) return;
    const expires = plannedExpiry({ durationMs, source: "cli", at: Date.now() }, offences(this.store.pastBans(prefix)) + 1, this.queue.rules);
    if (!endsLater(expires, wide.expires_at)) return; // the wider ban covers it for as long: nothing lost
    throw dataError(
      `cannot ban ${formatPrefix(prefix)} beyond the wider ban around it: ${coveredWords(wide)} first, or ban the addresses one by one`,
    );
  }

  async unban(address: string): Promise<{ prefix: string; was_banned: boolean }> {
    const given = parsePrefix(address);
    // The address that banned it unbans it, whatever prefix the ban was widened to.
    const widened = this.policy.asBanned(given);
    const prefix = this.store.isBanned(given) ? given : widened;
    if (!this.store.isBanned(prefix)) {
      // Lifting nothing while a wider ban still drops it would be a false "not banned".
      const wide = this.store.coveringBan(prefix);
      if (wide) throw dataError(`${formatPrefix(given)} is not banned itself: ${coveredWords(wide)}`);
    }
    const wasBanned = await this.queue.unban(prefix, "unban", "cli");
    return { prefix: formatPrefix(prefix), was_banned: wasBanned };
  }

  /**
   * How the daemon is doing, for `iblock stats` (starting: how far the
   * restore is). The counts the CLI reads from the store itself: a count of a
   * million would hold the daemon's event loop for ~100 ms.
   */
  async status(): Promise<{ daemon?: DaemonStatus }> {
    return this.daemonStatus ? { daemon: await this.daemonStatus() } : {};
  }

  /** A batch of `iblock import`: each prefix checked again here, as a manual ban; refused ones counted. */
  async importBatch(
    texts: readonly string[],
    reason?: string,
    time?: string,
    opts: { last?: boolean; force?: boolean } = {},
  ): Promise<{ imported: number; refused: number }> {
    const durationMs = time === undefined ? this.defaultImportMs : parseDuration(time);
    if (durationMs === undefined) throw dataError(`bad ban time ${JSON.stringify(time)}: expected e.g. 90s, 15m, 24h, 7d or permanent`);
    const prefixes: Prefix[] = [];
    let refused = 0;
    const rules = { force: opts.force, host: this.policy.hostFacts(), floor: IMPORT_MIN_LENGTH };
    for (const text of texts) {
      const verdict = this.policy.manualBan(parsePrefix(text), rules);
      if (verdict.refusal) refused++;
      else prefixes.push(verdict.prefix);
    }
    // Add only (like a restore): what the store did not hold, the firewall does not either,
    // save a kernel ban not yet read, whose timeout the next scan corrects.
    const banOpts = { source: "import", reason: reason ?? null, durationMs, addOnly: true };
    const imported = await this.queue.imports.importBans(prefixes, banOpts);
    // Batches join the firewall loads in flight: the last one waits for them all.
    if (opts.last) await this.queue.imports.importBans([], banOpts);
    return { imported, refused };
  }

  /** The history of an address or prefix: as given, and as a ban of it would be widened. */
  show(address: string): ShowView {
    const given = parsePrefix(address);
    const keys = [...new Set([formatPrefix(given), formatPrefix(this.policy.asBanned(given))])];
    return {
      query: formatPrefix(given),
      prefixes: keys.map((k) => {
        const p = parsePrefix(k);
        const h = this.store.history(p);
        const banned = this.store.isBanned(p);
        const wide = banned ? undefined : this.store.coveringBan(p);
        return {
          prefix: k,
          banned,
          ...(wide ? { covered_by: { prefix: formatPrefix(parsePrefix(wide.prefix)), until: isoTime(wide.expires_at) } } : {}),
          hits: h.hits,
          first_seen: isoTime(h.first_seen),
          last_seen: isoTime(h.last_seen),
          ports: h.ports,
          bans: h.bans.map((b) => ({
            from: isoTime(b.first_seen) ?? "",
            until: isoTime(b.ended_at ?? b.expires_at),
            ended: b.ended_at !== null || (b.expires_at !== null && b.expires_at <= Date.now()),
            end_reason: b.end_reason ?? (b.expires_at !== null && b.expires_at <= Date.now() ? "expired" : null),
            source: b.source,
            port: b.port,
            hits: b.hits,
            reason: b.reason,
          })),
        };
      }),
    };
  }
}
