import assert from "node:assert/strict";
import { test } from "node:test";
import type { Firewall } from "../../src/firewall/firewall.js";
import { held } from "./held.js";
import { formatPrefix, parsePrefix } from "../../src/net/address.js";

export interface SuiteOptions {
  name: string;
  /** A fresh backend on a fresh table. */
  make: () => Promise<Firewall> | Firewall;
  /** A reason to skip, or false. */
  skip: string | false;
  after?: () => Promise<void> | void;
}

const shown = async (fw: Firewall): Promise<string[]> => (await held(fw)).map(formatPrefix).sort();

/** What every backend must do; each backend's test file runs it. */
export function runFirewallSuite(o: SuiteOptions): void {
  test(`${o.name}: conforms to the Firewall interface`, { skip: o.skip }, async (t) => {
    if (o.after) t.after(o.after);
    const fw = await o.make();
    await fw.setup();
    await fw.setup(); // idempotent
    assert.deepEqual(await shown(fw), []);

    const bans = ["203.0.113.7", "2001:db8:1:2::/64", "198.51.100.0/24"].map(parsePrefix);
    await fw.add(bans.map((prefix) => ({ prefix })));
    await fw.add([{ prefix: bans[0]! }]); // adding again is no error and no duplicate
    assert.deepEqual(await shown(fw), ["198.51.100.0/24", "2001:db8:1:2::/64", "203.0.113.7"]);

    await fw.setup(); // a restart keeps what is there
    assert.deepEqual((await shown(fw)).length, 3);

    await fw.killStates(bans);
    await fw.remove([bans[0]!]);
    await fw.remove([parsePrefix("192.0.2.99")]); // not there: no error
    assert.deepEqual(await shown(fw), ["198.51.100.0/24", "2001:db8:1:2::/64"]);
    await fw.close?.();
  });
}
