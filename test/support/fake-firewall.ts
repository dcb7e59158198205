import type { Firewall, FirewallBan, Integrity } from "../../src/firewall/firewall.js";
import { formatPrefix, type Prefix } from "../../src/net/address.js";

/**
 * A firewall that holds nothing and refuses nothing, for unit tests of the
 * queue's side: it records what was added and removed. A test overrides what
 * it needs (refusals, held restores, the order of calls).
 */
export class FakeFirewall implements Firewall {
  readonly name: string = "fake";
  readonly can: Firewall["can"] = { kernelBans: false, expiresItself: false, restoreReplaces: false };
  added: string[] = [];
  removed: string[] = [];
  add(bans: readonly FirewallBan[]): Promise<void> {
    this.added.push(...bans.map((b) => formatPrefix(b.prefix)));
    return Promise.resolve();
  }
  remove(p: readonly Prefix[]): Promise<void> {
    this.removed.push(...p.map(formatPrefix));
    return Promise.resolve();
  }
  setup(): Promise<void> {
    return Promise.resolve();
  }
  async restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    let n = 0;
    for await (const page of pages()) n += page.length;
    return n;
  }
  check(): Promise<Integrity> {
    return Promise.resolve("intact");
  }
  scan(): Promise<void> {
    return Promise.resolve();
  }
  uninstall(): Promise<string> {
    return Promise.resolve("");
  }
  setTrapPorts(): Promise<void> {
    return Promise.resolve();
  }
  killStates(): Promise<void> {
    return Promise.resolve();
  }
}
