// The listener route's first ban goes to the firewall before the store records
// it (src/bans/early-ban.ts): only where a crash between loses nothing, once,
// and in the firewall's one order with an unban that follows.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BanRequest } from "../../src/bans/ban-request.js";
import { BanQueue } from "../../src/bans/queue.js";
import type { Firewall, FirewallBan, HeldBan, Integrity } from "../../src/firewall/firewall.js";
import { Logger } from "../../src/log.js";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/net/address.js";
import { DEFAULT_RULES, hitPolicy, type BanRules } from "../../src/bans/rules.js";
import { Store } from "../../src/store/store.js";
import { activeBans } from "../support/held.js";

/** Records each call, and whether the store had the ban when an add came. */
class OrderFirewall implements Firewall {
  readonly name = "order";
  readonly can = { kernelBans: false, expiresItself: true, restoreReplaces: false };
  calls: string[] = [];
  /** Set by the test: what the store says of a prefix when the firewall is asked. */
  recorded: (p: Prefix) => boolean = () => false;
  constructor(private readonly adoptable = true) {}
  ownMade(p: Prefix): boolean {
    return this.adoptable && p.length === (p.family === 4 ? 32 : 128);
  }
  add(bans: readonly FirewallBan[]): Promise<void> {
    for (const b of bans) this.calls.push(`add ${formatPrefix(b.prefix)}${b.fresh ? " fresh" : ""}${this.recorded(b.prefix) ? " recorded" : ""}`);
    return Promise.resolve();
  }
  remove(p: readonly Prefix[]): Promise<void> {
    for (const x of p) this.calls.push(`remove ${formatPrefix(x)}`);
    return Promise.resolve();
  }
  restore(): Promise<number> {
    return Promise.resolve(0);
  }
  setup(): Promise<void> {
    return Promise.resolve();
  }
  check(): Promise<Integrity> {
    return Promise.resolve("intact");
  }
  scan(_each: (held: readonly HeldBan[]) => Promise<void>): Promise<void> {
    return Promise.resolve();
  }
  killStates(): Promise<void> {
    return Promise.resolve();
  }
  setTrapPorts(): Promise<void> {
    return Promise.resolve();
  }
  uninstall(): Promise<string> {
    return Promise.resolve("");
  }
}

const RULES: BanRules = { ...DEFAULT_RULES, times: { banMs: 3_600_000, multiplier: 2, maxMs: 86_400_000 } };
const SCANNER = parsePrefix("203.0.113.7");
const hit = (route: "listener" | "kernel" = "listener"): BanRequest => ({ prefix: SCANNER, port: 23, source: "trap", route });

function setup(opts: { rules?: BanRules; adoptable?: boolean } = {}): { fw: OrderFirewall; store: Store; queue: BanQueue; lines: string[] } {
  const lines: string[] = [];
  const fw = new OrderFirewall(opts.adoptable);
  const store = new Store(":memory:");
  fw.recorded = (p) => store.isBanned(p);
  const queue = new BanQueue(store, fw, new Logger((l) => lines.push(l)), opts.rules ?? RULES);
  return { fw, store, queue, lines };
}

test("a listener hit's first ban reaches the firewall before the store, once, and is recorded as the hit it was", async () => {
  const { fw, store, queue, lines } = setup();
  queue.submit(hit());
  assert.ok(await queue.drain());
  assert.deepEqual(fw.calls, ["add 203.0.113.7 fresh"], "one plain add, made before the store had the ban");
  const [row] = activeBans(store);
  assert.equal(row?.source, "trap");
  assert.equal(row?.port, 23);
  assert.equal(lines.filter((l) => l.endsWith("blocking 203.0.113.7 (port 23)")).length, 1, lines.join("\n"));
});

test("the usual way, store first: a repeat offender, a threshold, a kernel route hit, a firewall that would not adopt it", async () => {
  const repeat = setup();
  repeat.store.recordHits([{ prefix: SCANNER, ports: new Map([[23, 1]]), source: "trap", at: Date.now() - 1000 }], hitPolicy(RULES));
  repeat.store.endBan(SCANNER, { kind: "unban", reason: "unban" });
  repeat.queue.submit(hit());
  assert.ok(await repeat.queue.drain());
  // A crash between would lose it: the start scan removes an element of a prefix unbanned before.
  assert.deepEqual(repeat.fw.calls, ["add 203.0.113.7 recorded"]);

  const threshold = setup({ rules: { ...RULES, threshold: 2 } });
  threshold.queue.submit(hit());
  threshold.queue.submit({ ...hit(), prefix: parsePrefix("203.0.113.8") });
  assert.ok(await threshold.queue.drain());
  assert.deepEqual(threshold.fw.calls, [], "one hit each: below the threshold, no ban at all");

  const kernel = setup();
  kernel.queue.submit(hit("kernel"));
  assert.ok(await kernel.queue.drain());
  assert.deepEqual(kernel.fw.calls, ["add 203.0.113.7 recorded"]);

  const notAdoptable = setup({ adoptable: false });
  notAdoptable.queue.submit(hit());
  assert.ok(await notAdoptable.queue.drain());
  assert.deepEqual(notAdoptable.fw.calls, ["add 203.0.113.7 recorded"]);
});

test("inside a wider ban a listener hit only counts there: nothing reaches the firewall", async () => {
  const { fw, store, queue } = setup();
  store.recordHits([{ prefix: parsePrefix("203.0.113.0/24"), ports: new Map([[0, 1]]), source: "manual", durationMs: Infinity, at: Date.now() }], hitPolicy(RULES));
  queue.submit(hit());
  assert.ok(await queue.drain());
  assert.deepEqual(fw.calls, []);
});

test("an unban right after a listener hit is applied after its early ban", async () => {
  const { fw, store, queue } = setup();
  queue.submit(hit());
  assert.equal(await queue.unban(SCANNER), false, "not recorded yet: nothing to end in the store");
  assert.ok(await queue.drain());
  assert.deepEqual(fw.calls, ["add 203.0.113.7 fresh", "remove 203.0.113.7"]);
  assert.equal(store.isBanned(SCANNER), false);
});

test("while a firewall call is in flight a listener hit waits for its batch (a storm is not one call per source)", async () => {
  const { fw, queue } = setup();
  let release = (): void => undefined;
  const held = new Promise<void>((r) => (release = r));
  const inFlight = queue.serial(() => held);
  queue.submit(hit());
  queue.submit({ ...hit(), prefix: parsePrefix("203.0.113.8") });
  release();
  await inFlight;
  assert.ok(await queue.drain());
  assert.deepEqual(fw.calls, ["add 203.0.113.7 recorded", "add 203.0.113.8 recorded"]);
});

test("the store failing after an early ban loses nothing: banned all the same, recorded with its port once it works", async () => {
  const { fw, store, queue, lines } = setup();
  const record = store.recordHits.bind(store);
  let failures = 1;
  store.recordHits = (groups, policy) => {
    if (failures-- > 0) throw new Error("disk I/O error");
    return record(groups, policy);
  };
  queue.submit(hit());
  assert.ok(await queue.drain());
  assert.equal(fw.calls[0], "add 203.0.113.7 fresh");
  assert.ok(lines.some((l) => l.includes("cannot write the store (disk I/O error)")));
  const [row] = activeBans(store);
  assert.equal(row?.source, "trap");
  assert.equal(row?.port, 23);
  assert.equal(fw.calls.filter((c) => c.startsWith("remove")).length, 0, "never out of the firewall");
});
