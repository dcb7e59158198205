// Add-only imports (`iblock import`, a fleet's snapshot) stream into firewall
// loads: what comes while a load is in flight goes in the next one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import type { FirewallBan } from "../../src/firewall/firewall.js";
import { FakeFirewall } from "../support/fake-firewall.js";
import { Logger } from "../../src/log.js";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

/** Records each load; a restore can be held back, and refused whole when it holds a refused prefix. */
class LoadingFirewall extends FakeFirewall {
  override readonly name = "loading";
  loads: string[][] = [];
  refuse: (p: Prefix) => boolean = () => false;
  hold: Promise<void> | undefined;
  override async restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    await this.hold;
    const load: string[] = [];
    for await (const page of pages()) load.push(...page.map((b) => formatPrefix(b.prefix)));
    if (load.some((p) => this.refuse(parsePrefix(p)))) throw new Error("refused");
    this.loads.push(load);
    return load.length;
  }
  override add(bans: readonly FirewallBan[]): Promise<void> {
    if (bans.some((b) => this.refuse(b.prefix))) return Promise.reject(new Error("refused"));
    return super.add(bans);
  }
}

const IMPORT = { source: "import", reason: null, durationMs: 3_600_000, addOnly: true } as const;
const batch = (n: number, from = 0): Prefix[] => Array.from({ length: n }, (_, i) => parsePrefix(`198.18.${(from + i) >> 8}.${(from + i) & 255}`));

function setup(): { fw: LoadingFirewall; store: Store; queue: BanQueue; lines: string[]; told: string[] } {
  const lines: string[] = [];
  const fw = new LoadingFirewall();
  const store = new Store(":memory:");
  const queue = new BanQueue(store, fw, new Logger((l) => lines.push(l)));
  const told: string[] = [];
  queue.changes.on((c) => {
    if (c.kind === "ban") told.push(formatPrefix(c.prefix));
  });
  return { fw, store, queue, lines, told };
}

void test("imports made while a load is in flight go together in the next load; each ban is told once it is loaded", async () => {
  const { fw, store, queue, told } = setup();
  let release = (): void => undefined;
  fw.hold = new Promise<void>((r) => (release = r));
  assert.equal(await queue.imports.importBans(batch(3), IMPORT), 3); // resolves once recorded: the load is held back
  for (let i = 1; i < 5; i++) assert.equal(await queue.imports.importBans(batch(3, 3 * i), IMPORT), 3);
  assert.equal(store.countActive(), 15);
  assert.deepEqual(told, [], "told before the firewall has them");
  fw.hold = undefined;
  release();
  await queue.imports.importBans([], IMPORT); // resolves once every import is in the firewall
  assert.deepEqual(fw.loads.map((l) => l.length), [3, 12]);
  assert.deepEqual(told.sort(), batch(15).map(formatPrefix).sort());
  queue.close();
  store.close();
});

void test("a streamed load the firewall refuses is retried one by one: every other ban lands and is told, without a log line each", async () => {
  const { fw, store, queue, lines, told } = setup();
  fw.refuse = (p) => formatPrefix(p) === "198.18.0.4";
  await queue.imports.importBans(batch(3), IMPORT);
  await queue.imports.importBans(batch(3, 3), IMPORT);
  await queue.imports.importBans([], IMPORT);
  await queue.drain(500); // the refused one is retried on and on
  assert.deepEqual(fw.loads, [["198.18.0.0", "198.18.0.1", "198.18.0.2"]], "the first load went alone, the second was refused");
  assert.deepEqual(fw.added.sort(), ["198.18.0.3", "198.18.0.5"]);
  assert.deepEqual(told.sort(), ["198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.5"]);
  assert.equal(store.countActive(), 6, "the refused one stays recorded, retried");
  assert.ok(!lines.some((l) => /blocking 198\.18\.0\./.test(l)), lines.join("\n"));
  assert.ok(lines.some((l) => /firewall refused a batch of 3, retrying one by one/.test(l)), lines.join("\n"));
  queue.close();
  store.close();
});

void test("a ban unbanned while its load waits is not put back by the load, nor told", async () => {
  const { fw, store, queue, told } = setup();
  let release = (): void => undefined;
  fw.hold = new Promise<void>((r) => (release = r));
  await queue.imports.importBans(batch(2), IMPORT); // in flight, held
  await queue.imports.importBans(batch(2, 2), IMPORT); // waits for its turn
  // Its removal waits behind the load in flight, and goes before the waiting load.
  const unbanned = queue.unban(parsePrefix("198.18.0.3"));
  fw.hold = undefined;
  release();
  assert.equal(await unbanned, true);
  await queue.imports.importBans([], IMPORT);
  assert.deepEqual(fw.removed, ["198.18.0.3"]);
  assert.deepEqual(fw.loads, [["198.18.0.0", "198.18.0.1"], ["198.18.0.2"]]);
  assert.deepEqual(told.sort(), ["198.18.0.0", "198.18.0.1", "198.18.0.2"]);
  assert.ok(!store.isBanned(parsePrefix("198.18.0.3")));
  queue.close();
  store.close();
});

void test("a ban unbanned while its load's bans are being told is not told as banned after its unban", async () => {
  const { store, queue, told } = setup();
  const late = parsePrefix("198.18.42.248"); // the 11,000th of 12,000: told after a pause
  const events: string[] = [];
  let unbanning: Promise<boolean> | undefined;
  queue.changes.on((c) => {
    if (formatPrefix(c.prefix) === formatPrefix(late)) events.push(c.kind);
    unbanning ??= queue.unban(late);
  });
  await queue.imports.importBans(batch(12_000), IMPORT);
  await queue.imports.importBans([], IMPORT);
  assert.equal(await unbanning, true);
  assert.deepEqual(events, ["unban"], "its unban only, never a ban after it");
  assert.equal(told.length, 11_999);
  assert.ok(!store.isBanned(late));
  queue.close();
  store.close();
});
