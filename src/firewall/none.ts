import { prefixKey, type Prefix } from "../net/address.js";
import type { Firewall, FirewallBan, HeldBan, Integrity } from "./firewall.js";

/** Log and record only: for dry runs, and for hosts where another tool reads the store. */
export class NoFirewall implements Firewall {
  readonly name = "none";
  readonly can = { kernelBans: false, expiresItself: false, restoreReplaces: false } as const;
  private readonly held = new Map<string, Prefix>();

  setup(): Promise<void> {
    return Promise.resolve();
  }
  add(bans: readonly FirewallBan[]): Promise<void> {
    for (const b of bans) this.held.set(prefixKey(b.prefix), b.prefix);
    return Promise.resolve();
  }
  remove(prefixes: readonly Prefix[]): Promise<void> {
    for (const p of prefixes) this.held.delete(prefixKey(p));
    return Promise.resolve();
  }
  async restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    let n = 0;
    for await (const page of pages()) n += (await this.add(page), page.length);
    return n;
  }
  check(expected: () => number): Promise<Integrity> {
    return Promise.resolve(this.held.size >= expected() ? "intact" : "missing");
  }
  async scan(each: (held: readonly HeldBan[]) => Promise<void>): Promise<void> {
    const all = [...this.held.values()].map((prefix) => ({ prefix, ownMade: false }));
    if (all.length) await each(all);
  }
  uninstall(): Promise<string> {
    return Promise.resolve('firewall "none": nothing of iblock is in a firewall');
  }
  setTrapPorts(): Promise<void> {
    return Promise.resolve();
  }
  killStates(): Promise<void> {
    return Promise.resolve();
  }
}
