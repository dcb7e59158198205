import { formatPrefix, parsePrefix } from "../policy/address.js";
import type { Policy } from "../policy/policy.js";
import type { BanQueue } from "../bans/queue.js";
import type { Stats, Store } from "../store/store.js";
import { IblockError, EX_UNAVAILABLE } from "../errors.js";

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

// A CLI ban waits this long for the firewall before answering; the ban is
// recorded either way and the queue keeps retrying.
const BAN_WAIT_MS = 15_000;

/**
 * What the CLI can ask for. The daemon serves these over its control socket;
 * with no daemon running the CLI runs the same code on the store and firewall
 * itself, so both routes behave alike.
 */
export class Operations {
  constructor(
    private readonly store: Store,
    private readonly queue: BanQueue,
    private readonly policy: Policy,
  ) {}

  async ban(address: string, reason?: string): Promise<string> {
    const prefix = this.policy.forManual(parsePrefix(address));
    const shown = formatPrefix(prefix);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer from the firewall in ${BAN_WAIT_MS / 1000} s`)), BAN_WAIT_MS).unref(),
    );
    try {
      await Promise.race([this.queue.ban({ prefix, source: "cli", reason }), timeout]);
    } catch (e) {
      throw new IblockError(
        `${shown} is recorded but not yet in the firewall (it will be retried): ${(e as Error).message}`,
        EX_UNAVAILABLE,
      );
    }
    return shown;
  }

  async unban(address: string): Promise<{ prefix: string; was_banned: boolean }> {
    const given = parsePrefix(address);
    // The address that banned it unbans it, whatever prefix the ban was widened to.
    const widened = this.policy.asBanned(given);
    const prefix = this.store.isBanned(given) ? given : widened;
    const wasBanned = await this.queue.unban(prefix, "cli");
    return { prefix: formatPrefix(prefix), was_banned: wasBanned };
  }

  list(): BanView[] {
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    return this.store.activeBans().map((r) => ({
      prefix: r.prefix,
      first_seen: iso(r.first_seen) ?? "",
      last_seen: iso(r.last_seen) ?? "",
      hits: r.hits,
      port: r.port,
      source: r.source,
      reason: r.reason,
      expires: iso(r.expires_at),
    }));
  }

  stats(): Stats {
    return this.store.stats();
  }
}
