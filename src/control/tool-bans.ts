import { formatPrefix, parsePrefix, prefixKey, type Prefix } from "../net/address.js";
import type { Policy } from "../policy/policy.js";
import type { BanQueue } from "../bans/queue.js";
import type { BanRequest } from "../bans/ban-request.js";
import type { ToolSource } from "../bans/tool-sources.js";
import { parseDuration } from "../policy/duration.js";
import type { Store } from "../store/store.js";
import type { Logger } from "../log.js";
import type { ToolChange } from "./protocol.js";

/** What a tool's batch did. */
export interface ToolOutcome {
  banned: number;
  /** Malformed, allowed, too wide, this host's, or a bad time: nothing changed for them. */
  refused: number;
  /** Bans the firewall did not take yet (the queue retries them). */
  failed: number;
  released: number;
  /** Releases of a ban the tool does not hold (a trap's, an admin's, another jail's): left in force. */
  kept: number;
}

const CHUNK = 500;
// Refusals logged per batch: the rest are counted, so a flood of junk is not a flood of lines.
const LOGGED_REFUSALS = 5;

/**
 * fail2ban's and sshguard's changes, in the order they sent them. Each
 * address is held to `iblock ban`'s rules (no --force); a release lifts only
 * a ban the tool holds itself, and for fail2ban only the jail's that owns it.
 */
export class ToolBans {

  constructor(
    private readonly store: Store,
    private readonly queue: BanQueue,
    private readonly policy: Policy,
    private readonly log: Logger,
  ) {}

  async apply(source: ToolSource, changes: readonly ToolChange[]): Promise<ToolOutcome> {
    const out: ToolOutcome = { banned: 0, refused: 0, failed: 0, released: 0, kept: 0 };
    const host = this.policy.hostFacts();
    let bans: BanRequest[] = [];
    const refuse = (text: string, why: string): void => {
      if (out.refused++ < LOGGED_REFUSALS) this.log.warn(`${source}: refused ${JSON.stringify(text)}: ${why}`);
    };
    // Bans go to the queue a chunk at a time; a release waits for the bans sent before it (a ban, then its release).
    const sent: Promise<PromiseSettledResult<void>[]>[] = [];
    const submitBans = (): void => {
      if (bans.length) sent.push(this.queue.banMany(bans));
      bans = [];
    };
    const sendBans = async (): Promise<void> => {
      submitBans();
      for (const outcomes of await Promise.all(sent.splice(0))) {
        for (const o of outcomes) {
          if (o.status === "fulfilled") out.banned++;
          else out.failed++;
        }
      }
    };
    let i = 0;
    for (const c of changes) {
      // A batch is up to IMPORT_BATCH changes: checked and queued in chunks, the event loop free between.
      if (++i % CHUNK === 0) {
        submitBans();
        await new Promise((r) => setImmediate(r));
      }
      if (c.op === "ban") {
        const durationMs = c.time === undefined ? undefined : parseDuration(c.time);
        if (c.time !== undefined && durationMs === undefined) {
          refuse(c.time, "bad ban time");
          continue;
        }
        const verdict = this.verdict(c.address, host);
        if ("why" in verdict) refuse(c.address, verdict.why);
        else bans.push({ prefix: verdict.prefix, source, reason: c.reason ?? source, durationMs });
        continue;
      }
      await sendBans();
      if (c.op === "flush") out.released += await this.release(source, this.held(source), `${source} flush`);
      else {
        let given: Prefix;
        try {
          given = parsePrefix(c.address);
        } catch (e) {
          refuse(c.address, (e as Error).message);
          continue;
        }
        // A tool's bans are of the address it names, never widened: one address's release
        // cannot lift a longer ban the same jail holds on a neighbour of its /64.
        const prefix = given;
        const open = this.store.openBan(prefix);
        const owned = open !== undefined && open.source === source && (c.reason === undefined || open.reason === c.reason);
        if (owned) out.released += await this.release(source, [prefix], c.reason ? `${source}: ${JSON.stringify(c.reason)}` : source);
        else if (open) out.kept++;
      }
    }
    await sendBans();
    return out;
  }

  private verdict(text: string, host: ReturnType<Policy["hostFacts"]>): { prefix: Prefix } | { why: string } {
    try {
      const v = this.policy.manualBan(parsePrefix(text), { host, exact: true });
      return v.refusal ? { why: v.refusal.why } : { prefix: v.prefix };
    } catch (e) {
      return { why: (e as Error).message };
    }
  }

  /** Ends the bans `source` still holds among `prefixes`, in the store, then in the firewall at once. */
  private async release(source: ToolSource, prefixes: readonly Prefix[], reason: string): Promise<number> {
    const ended = prefixes.filter((p) => this.store.endHeldBan(prefixKey(p), source, { kind: "unban", reason }));
    await this.queue.imports.removeEnded(ended, reason, "unban");
    for (const p of ended) this.log.info(`unblocking ${formatPrefix(p)} (${reason})`);
    return ended.length;
  }

  /** Every ban in force `source` holds. */
  private held(source: ToolSource): Prefix[] {
    return this.store.inForceOf(source);
  }
}
