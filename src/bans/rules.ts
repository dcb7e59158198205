import type { Config } from "../config.js";
import { banDuration, type BanTimes } from "../policy/duration.js";
import type { HitDecision, HitFacts, HitPolicy, PastBans } from "../store/hit-recorder.js";
import { rowPrefix, type BanRow, type HitGroup } from "../store/rows.js";
import { DEFAULT_BAN_LENGTHS, needsOwnBan, type BanLengths } from "./nesting.js";
import { decideWithTool, TOOL_SOURCES } from "./tool-sources.js";

/** When hits become a ban, and for how long. */
export interface BanRules {
  /** Hits within windowMs before a ban; 1 bans at the first. */
  threshold: number;
  windowMs: number;
  times: BanTimes;
  /** Bans made on a bare SYN (source "syn"): forgeable, so shorter. */
  synMs: number;
  /** What trap hits are banned as: such a ban may sit inside a wider one. */
  lengths: BanLengths;
}

export const DEFAULT_RULES: BanRules = {
  threshold: 1,
  windowMs: 3_600_000,
  times: { banMs: Infinity, multiplier: 2, maxMs: Infinity },
  synMs: 3_600_000,
  lengths: DEFAULT_BAN_LENGTHS,
};

/** The ban rules from a config. */
export function banRulesFor(
  c: Pick<Config, "threshold" | "threshold_window" | "ban_time" | "repeat_multiplier" | "ban_time_max" | "syn_ban_time" | "ipv4_prefix" | "ipv6_prefix">,
): BanRules {
  return {
    threshold: c.threshold,
    windowMs: c.threshold_window,
    times: { banMs: c.ban_time, multiplier: c.repeat_multiplier, maxMs: c.ban_time_max },
    synMs: c.syn_ban_time,
    lengths: { ipv4: c.ipv4_prefix, ipv6: c.ipv6_prefix },
  };
}

/**
 * The source of a ban found in the firewall that the store did not know (a
 * kernel ban whose report was lost). Never shared: nothing here proved it.
 */
export const ADOPTED = "adopted";

/**
 * Bans held for someone else or on no proof: a feed's (feed:NAME), a peer's,
 * one found in the firewall. Our own hit or ban takes them over.
 */
export const isBorrowed = (source: string): boolean => source === "peer" || source === ADOPTED || source.startsWith("feed:");

/** Sources that are a person's decision: never held back by the threshold. */
const DELIBERATE: ReadonlySet<string> = new Set(["cli", "api", "aggregate", "peer", "local", ...TOOL_SOURCES]);

/**
 * Sources whose request is a connection to a trap port: a hit. An admin's
 * ban (cli, api, local), a peer's, a feed's, an import or an adopted ban is
 * a decision, not a connection, and counts none. (The migration that rebuilt
 * the history, in store/schema.ts, names the same four as they were then: a
 * migration never changes, so it keeps its own copy.)
 */
const HIT_SOURCES: ReadonlySet<string> = new Set(["trap", "kernel", "syn", "inetd"]);
export const isHitSource = (source: string): boolean => HIT_SOURCES.has(source);

/**
 * Offences that escalate: bans that ran their course (or were still open when
 * the source came back); not those an admin lifted, nor those folded into a
 * wider ban, nor one found in the firewall (it proves nothing).
 */
export function offences(past: readonly PastBans[]): number {
  let n = 0;
  for (const b of past) if ((b.ending === null || b.ending === "expired") && b.source !== ADOPTED) n += b.n;
  return n;
}

/** When a new ban from `g` ends (ms; null permanent): its own length, else SYN bans, else the rules with escalation (`nth` offence). */
export function plannedExpiry(g: Pick<HitGroup, "durationMs" | "source" | "at">, nth: number, rules: BanRules): number | null {
  const ms = g.durationMs ?? (g.source === "syn" ? rules.synMs : banDuration(nth, rules.times));
  return ms === Infinity ? null : g.at + ms;
}

const givenExpiry = (durationMs: number, at: number): number | null => (durationMs === Infinity ? null : at + durationMs);

/**
 * What a batch's hits on one prefix do: count on a ban in force, take over
 * a borrowed one, give one a new length, make a ban, or nothing yet.
 */
export function decideHit(f: HitFacts, rules: BanRules): HitDecision {
  const g = f.group;
  if (f.open) {
    if (!isBorrowed(f.open.source)) {
      const planned = (): number | null =>
        g.durationMs !== undefined ? givenExpiry(g.durationMs, g.at) : plannedExpiry(g, Math.max(1, offences(f.pastBans())), rules);
      const d = decideWithTool(f.open, g, planned);
      if (d) return d;
    }
    if (isBorrowed(f.open.source) && !isBorrowed(g.source)) {
      // Our own decision on a ban a feed or a peer holds: it becomes ours, with our
      // length, so the feed dropping the entry or the peer's unban cannot end it.
      // The borrowed ban is no offence of ours: it is not counted (offences include it).
      const nth = Math.max(1, offences(f.pastBans()));
      return { kind: "take-over", expires_at: g.durationMs !== undefined ? givenExpiry(g.durationMs, g.at) : plannedExpiry(g, nth, rules) };
    }
    // `iblock ban --time` on a ban in force: a new length, applied again.
    if (g.durationMs !== undefined) return { kind: "retime", expires_at: givenExpiry(g.durationMs, g.at) };
    return { kind: "count", on: f.open };
  }
  // No hit of its own (a kernel report of a connection already counted): a ban
  // lifted since that connection stays lifted (`iblock unban` right after a ban).
  if (f.hits === 0 && liftedSince(f.lastBan(), g.at)) return { kind: "none" };
  const nth = offences(f.pastBans()) + 1;
  const expires_at = plannedExpiry(g, nth, rules);
  const wide = f.covering();
  // No hit of its own (a late kernel report of a connection already counted): never a new ban inside.
  // A wider ban lasting at least as long (or one the firewall cannot nest): the hit only counts there.
  if (wide && (f.hits === 0 || !needsOwnBan(g.prefix, expires_at, f.wider().map(rowPrefix), wide.expires_at, rules.lengths))) return { kind: "count", on: wide };
  let hits = f.counted;
  if (rules.threshold > 1 && !DELIBERATE.has(g.source)) {
    const recent = f.recentHits(rules.windowMs);
    if (recent < rules.threshold) return { kind: "none" };
    hits = recent;
  }
  return { kind: "ban", expires_at, nth, hits };
}

/** The last ban was ended by someone (not by its time) at or after `at`. */
export function liftedSince(last: Pick<BanRow, "ended_at" | "end_kind"> | undefined, at: number): boolean {
  return last !== undefined && last.ended_at !== null && last.ended_at >= at && last.end_kind !== "expired";
}

/** These rules as the store asks them when it records hits. */
export const hitPolicy = (rules: BanRules): HitPolicy => ({ isHit: isHitSource, decide: (f) => decideHit(f, rules) });
