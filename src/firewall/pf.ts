import { formatPrefix, parsePrefix, type Prefix } from "../net/address.js";
import type { Firewall, FirewallBan, HeldBan, Integrity } from "./firewall.js";
import { run } from "../util/run.js";

// Addresses per pfctl process, fed on standard input (`-f -`): far fewer
// processes than one argv of 500, and no argv length limit at all.
const CHUNK = 100_000;
// How many addresses of `-T show` are handed on at once.
const SCAN_BATCH = 5_000;

export interface PfOptions {
  table: string;
  pfctl: string;
  /** e.g. ["/usr/bin/doas", "-n"], so an unprivileged daemon may run pfctl. */
  commandPrefix: readonly string[];
}

/** One address or network a line, as `pfctl -f` reads a table file. */
const asFile = (prefixes: readonly Prefix[]): string => prefixes.map((p) => `${formatPrefix(p)}\n`).join("");

/**
 * OpenBSD and FreeBSD PF: bans live in a table that pf.conf blocks
 * (`block in quick from <TABLE>`). The table is the user's; we add to it,
 * delete from it and read it, and kill the states of what we ban.
 */
export class PfFirewall implements Firewall {
  readonly name = "pf";
  // PF tables have no per-entry timeout: the daemon removes expired bans itself.
  readonly can = { kernelBans: false, expiresItself: false, restoreReplaces: true } as const;

  /** A single address, as an overload rule adds: what a scan adopts. */
  ownMade(prefix: Prefix): boolean {
    return prefix.length === (prefix.family === 4 ? 32 : 128);
  }

  constructor(private readonly opts: PfOptions) {}

  private pfctl(args: string[], input?: string): Promise<{ stdout: string }> {
    return run([...this.opts.commandPrefix, this.opts.pfctl, ...args], { input });
  }

  private async table(verb: "add" | "delete", prefixes: readonly Prefix[]): Promise<void> {
    for (let i = 0; i < prefixes.length; i += CHUNK) {
      await this.pfctl(["-t", this.opts.table, "-T", verb, "-f", "-"], asFile(prefixes.slice(i, i + CHUNK)));
    }
  }

  /** pfctl works with our privileges and the table can be read. */
  async setup(): Promise<void> {
    await this.pfctl(["-t", this.opts.table, "-T", "show"]);
  }

  add(bans: readonly FirewallBan[]): Promise<void> {
    return this.table(
      "add",
      bans.map((b) => b.prefix),
    );
  }

  remove(prefixes: readonly Prefix[]): Promise<void> {
    return this.table("delete", prefixes);
  }

  /** The table made to match the store in one call, as spamd does: `-T replace -f -`. */
  async restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    const parts: string[] = [];
    let n = 0;
    for await (const page of pages()) {
      parts.push(asFile(page.map((b) => b.prefix)));
      n += page.length;
    }
    await this.pfctl(["-t", this.opts.table, "-T", "replace", "-f", "-"], parts.join(""));
    return n;
  }

  /**
   * PF has no marker to tell a flushed table from an empty one: the table
   * holding fewer entries than the store has bans in force means something
   * was lost (`pfctl -F all`, a reboot without the persist file).
   */
  async check(expected: () => number): Promise<Integrity> {
    const { stdout } = await this.pfctl(["-t", this.opts.table, "-T", "show"]);
    let held = 0;
    for (let at = stdout.indexOf("\n"); at !== -1; at = stdout.indexOf("\n", at + 1)) held++;
    return held >= expected() ? "intact" : "missing";
  }

  async scan(each: (held: readonly HeldBan[]) => Promise<void>): Promise<void> {
    const { stdout } = await this.pfctl(["-t", this.opts.table, "-T", "show"]);
    let batch: HeldBan[] = [];
    for (const line of stdout.split("\n")) {
      const text = line.trim();
      // A negated entry ("!198.51.100.7") exempts an address: never a ban.
      if (!text || text.startsWith("!")) continue;
      try {
        const prefix = parsePrefix(text);
        // A single address, as an overload rule adds: the only kind PF makes by itself.
        batch.push({ prefix, ownMade: this.ownMade(prefix) });
      } catch {
        continue; // a name someone put in by hand: not ours to manage
      }
      if (batch.length >= SCAN_BATCH) {
        await each(batch);
        batch = [];
      }
    }
    if (batch.length) await each(batch);
  }

  /** The table is pf.conf's: emptied, not destroyed (pf.conf would make it again at its next load). */
  async uninstall(): Promise<string> {
    await this.pfctl(["-t", this.opts.table, "-T", "flush"]);
    return `flushed the PF table <${this.opts.table}>: no address is blocked by it any more`;
  }

  /** PF's trap ports are pf.conf's rdr-to rules (or inetd's), not iblock's to change. */
  setTrapPorts(): Promise<void> {
    return Promise.resolve();
  }

  /** `pfctl -k ADDR` for each, as the original does after each ban: PF takes one host per call. */
  async killStates(prefixes: readonly Prefix[]): Promise<void> {
    const errors: string[] = [];
    for (const p of prefixes) {
      await this.pfctl(["-k", formatPrefix(p)]).catch((e: Error) => errors.push(e.message));
    }
    if (errors.length) throw new Error(errors.join("; "));
  }
}
