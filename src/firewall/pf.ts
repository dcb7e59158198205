import { formatPrefix, parsePrefix, type Prefix } from "../policy/address.js";
import type { Firewall, FirewallBan } from "./firewall.js";
import { run } from "./run.js";

// pfctl takes addresses on its command line; this keeps argv far below ARG_MAX.
const CHUNK = 500;

export interface PfOptions {
  table: string;
  pfctl: string;
  /** e.g. ["/usr/bin/doas", "-n"], so an unprivileged daemon may run pfctl. */
  commandPrefix: readonly string[];
}

/**
 * OpenBSD and FreeBSD PF: bans live in a table that pf.conf blocks
 * (`block in quick from <TABLE>`). The table is the user's; we add to it,
 * delete from it and read it, and kill the states of what we ban.
 */
export class PfFirewall implements Firewall {
  readonly name = "pf";

  constructor(private readonly opts: PfOptions) {}

  private pfctl(...args: string[]): Promise<{ stdout: string }> {
    return run([...this.opts.commandPrefix, this.opts.pfctl, ...args]);
  }

  private async table(verb: "add" | "delete", prefixes: readonly Prefix[]): Promise<void> {
    const addrs = prefixes.map(formatPrefix);
    for (let i = 0; i < addrs.length; i += CHUNK) {
      await this.pfctl("-t", this.opts.table, "-T", verb, ...addrs.slice(i, i + CHUNK));
    }
  }

  /** pfctl works with our privileges and the table can be read. */
  async setup(): Promise<void> {
    await this.pfctl("-t", this.opts.table, "-T", "show");
  }

  // PF tables have no per-entry timeout: the daemon removes expired bans itself.
  add(bans: readonly FirewallBan[]): Promise<void> {
    return this.table(
      "add",
      bans.map((b) => b.prefix),
    );
  }

  remove(prefixes: readonly Prefix[]): Promise<void> {
    return this.table("delete", prefixes);
  }

  async list(): Promise<Prefix[]> {
    const { stdout } = await this.pfctl("-t", this.opts.table, "-T", "show");
    const out: Prefix[] = [];
    for (const line of stdout.split("\n")) {
      const text = line.trim();
      if (!text) continue;
      try {
        out.push(parsePrefix(text.replace(/^!\s*/, "")));
      } catch {
        // a name or negation someone put in by hand: not ours to manage
      }
    }
    return out;
  }

  /** `pfctl -k ADDR` for each, as the original does after each ban: PF takes one host per call. */
  async killStates(prefixes: readonly Prefix[]): Promise<void> {
    const errors: string[] = [];
    for (const p of prefixes) {
      await this.pfctl("-k", formatPrefix(p)).catch((e: Error) => errors.push(e.message));
    }
    if (errors.length) throw new Error(errors.join("; "));
  }
}
