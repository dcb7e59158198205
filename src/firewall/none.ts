import { prefixKey, type Prefix } from "../policy/address.js";
import type { Firewall, FirewallBan } from "./firewall.js";

/** Log and record only: for dry runs, and for hosts where another tool reads the store. */
export class NoFirewall implements Firewall {
  readonly name = "none";
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
  list(): Promise<Prefix[]> {
    return Promise.resolve([...this.held.values()]);
  }
  killStates(): Promise<void> {
    return Promise.resolve();
  }
}
