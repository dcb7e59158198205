import type Database from "better-sqlite3";
import type { BanChange } from "../bans/changes.js";
import { formatPrefix, prefixKey, widen, type Prefix } from "../net/address.js";
import { storedPrefix } from "../store/store.js";
import { BANS_OF_PREFIX_SQL } from "../store/schema.js";

// Rows read per synchronous step of a recount (a few ms), yielding between.
const RECOUNT_STEP = 5_000;
// Networks counted one by one; past this (a scan over many IPv6 /48s) the rest go under "other".
export const MAX_NETWORKS = 100_000;
// Changes held while a recount runs; a storm longer than that keeps the running counts instead.
const MAX_HELD = 200_000;
/** The networks the dashboard ranks: IPv4 /16, IPv6 /48. */
const NETWORK_OF = { 4: 16, 6: 48 } as const;

/** "feed:spamhaus" counts as "feed": a label has few values. */
export const sourceLabel = (source: string): string => source.split(":")[0] ?? source;

/** The /16 or /48 holding `p` (itself when wider), as text. Text only for IPv4: a million of them at start. */
export function networkOf(p: Prefix): string {
  const len = NETWORK_OF[p.family];
  if (p.length <= len) return formatPrefix(p);
  if (p.family === 4) {
    const [a, b] = p.address.split(".");
    return `${a}.${b}.0.0/16`;
  }
  return prefixKey(widen(p, len));
}

interface Tally {
  /** "family|source" -> bans in force. */
  bySource: Map<string, number>;
  /** network -> bans in force inside it. */
  byNetwork: Map<string, number>;
}

const emptyTally = (): Tally => ({ bySource: new Map(), byNetwork: new Map() });


function add(t: Tally, p: Prefix, source: string, n: number): void {
  const key = `${p.family}|${sourceLabel(source)}`;
  t.bySource.set(key, Math.max(0, (t.bySource.get(key) ?? 0) + n));
  let net = networkOf(p);
  if (!t.byNetwork.has(net) && t.byNetwork.size >= MAX_NETWORKS) net = "other";
  const left = (t.byNetwork.get(net) ?? 0) + n;
  if (left > 0) t.byNetwork.set(net, left);
  else t.byNetwork.delete(net);
}

/**
 * The bans in force counted in memory, so a scrape or a page costs nothing
 * at a million bans: counted from the store at start, then kept by the ban
 * changes, and counted again now and then from the store (in small steps)
 * to mend what the changes cannot tell (a ban ended before it was announced).
 */
export class BanCounts {
  private tally: Tally = emptyTally();
  /** While a recount runs: how far it has read, and the changes to apply again on top of it. */
  private recounting: { maxId: number; readUpTo: number; replay: { change: BanChange; source: string }[] } | undefined;

  private readonly lastRowQuery;
  private readonly maxIdQuery;
  private readonly stepQuery;

  constructor(private readonly db: Database.Database) {
    this.lastRowQuery = db.prepare<[{ prefix: string }], { id: number; source: string }>(`SELECT id, source FROM ${BANS_OF_PREFIX_SQL} ORDER BY id DESC LIMIT 1`);
    // Prepared once: a recount runs every 15 minutes for as long as the daemon does.
    this.maxIdQuery = db.prepare<[], { id: number | null }>("SELECT max(id) AS id FROM bans");
    this.stepQuery = db.prepare<[number, number], { prefix: string; source: string }>(
      "SELECT prefix, source FROM bans WHERE id > ? AND id <= ? AND ended_at IS NULL",
    );
  }

  get total(): number {
    let n = 0;
    for (const v of this.tally.bySource.values()) n += v;
    return n;
  }

  bySource(): ReadonlyMap<string, number> {
    return this.tally.bySource;
  }

  /** The `n` networks with the most bans in force. */
  topNetworks(n: number): { network: string; bans: number }[] {
    const all = [...this.tally.byNetwork].map(([network, bans]) => ({ network, bans }));
    return all.sort((a, b) => b.bans - a.bans || a.network.localeCompare(b.network)).slice(0, n);
  }

  apply(change: BanChange): void {
    if (change.kind === "ban" && change.renewed) return;
    // An unban does not say what kind of ban ended: its row does (one probe by index).
    const row = change.kind === "unban" || this.recounting ? this.lastRow(change.prefix) : undefined;
    const source = change.kind === "ban" ? change.source : (row?.source ?? "unknown");
    const r = this.recounting;
    if (r && row) {
      // What the recount has not counted, or will not see: a ban made after it began,
      // an unban of a row it already counted open.
      const again = change.kind === "ban" ? row.id > r.maxId : row.id <= r.readUpTo;
      if (again && r.replay.length < MAX_HELD) r.replay.push({ change, source });
      else if (again) this.recounting = undefined; // too much at once: the running counts stay
    }
    add(this.tally, change.prefix, source, change.kind === "ban" ? 1 : -1);
  }

  private lastRow(p: Prefix): { id: number; source: string } | undefined {
    return this.lastRowQuery.get({ prefix: prefixKey(p) });
  }

  /**
   * Count again from the store, RECOUNT_STEP rows at a time by id, yielding
   * between steps. Open rows are counted (an expired one is closed within a
   * second, and its change then takes it off). Changes during the recount
   * are applied again on top of it.
   */
  async recount(): Promise<void> {
    const maxId = this.maxIdQuery.get()?.id ?? 0;
    const step = this.stepQuery;
    const fresh = emptyTally();
    const state = { maxId, readUpTo: 0, replay: [] as { change: BanChange; source: string }[] };
    this.recounting = state;
    try {
      for (let lo = 0; lo < maxId; lo += RECOUNT_STEP) {
        const hi = Math.min(maxId, lo + RECOUNT_STEP);
        for (const r of step.all(lo, hi)) add(fresh, storedPrefix(r.prefix), r.source, 1);
        state.readUpTo = hi;
        await new Promise((resolve) => setImmediate(resolve));
        if (this.recounting !== state) return; // too much happened meanwhile; the next recount mends it
      }
      for (const { change, source } of state.replay) add(fresh, change.prefix, source, change.kind === "ban" ? 1 : -1);
      this.tally = fresh;
    } finally {
      if (this.recounting === state) this.recounting = undefined;
    }
  }
}
