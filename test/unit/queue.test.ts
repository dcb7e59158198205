import { hitPolicy, DEFAULT_RULES } from "../../src/bans/rules.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { BanQueue, MAX_WAITERS } from "../../src/bans/queue.js";
import type { Firewall, FirewallBan, HeldBan, Integrity } from "../../src/firewall/firewall.js";
import { Reconciler } from "../../src/bans/reconciler.js";
import { Logger } from "../../src/log.js";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/net/address.js";
import { activeBans } from "../support/held.js";
import { Store } from "../../src/store/store.js";

/** A firewall that records each call and can be told to refuse. */
class RecordingFirewall implements Firewall {
  readonly name = "recording";
  calls: string[][] = [];
  killed: string[] = [];
  refuse: (p: Prefix) => boolean = () => false;
  delayMs = 0;
  /** Awaited as each add starts: a test holds a call in flight with it. */
  gate: () => Promise<void> = () => Promise.resolve();
  setup(): Promise<void> {
    return Promise.resolve();
  }
  async add(bans: readonly FirewallBan[]): Promise<void> {
    await this.gate();
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (bans.some((b) => this.refuse(b.prefix))) throw new Error("refused");
    this.calls.push(bans.map((b) => formatPrefix(b.prefix)));
  }
  removed: string[] = [];
  held: string[] = [];
  remove(p: readonly Prefix[]): Promise<void> {
    this.removed.push(...p.map(formatPrefix));
    return Promise.resolve();
  }
  readonly can = { kernelBans: false, expiresItself: false, restoreReplaces: false };
  restored: string[] = [];
  async restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    let n = 0;
    for await (const page of pages()) {
      this.restored.push(...page.map((b) => formatPrefix(b.prefix)));
      n += page.length;
    }
    return n;
  }
  check(): Promise<Integrity> {
    return Promise.resolve("intact");
  }
  async scan(each: (held: readonly HeldBan[]) => Promise<void>): Promise<void> {
    if (this.held.length) await each(this.held.map((h) => ({ prefix: parsePrefix(h), ownMade: true })));
  }
  uninstall(): Promise<string> {
    return Promise.resolve("");
  }
  setTrapPorts(): Promise<void> {
    return Promise.resolve();
  }
  killStates(p: readonly Prefix[]): Promise<void> {
    this.killed.push(...p.map(formatPrefix));
    return Promise.resolve();
  }
}

function setup(): { fw: RecordingFirewall; store: Store; queue: BanQueue; lines: string[] } {
  const lines: string[] = [];
  const fw = new RecordingFirewall();
  const store = new Store(":memory:");
  const queue = new BanQueue(store, fw, new Logger((l) => lines.push(l)));
  return { fw, store, queue, lines };
}

test("one address hitting 20 trap ports at once is banned, logged and recorded once", async () => {
  const { fw, store, queue, lines } = setup();
  for (let port = 1; port <= 20; port++) queue.submit({ prefix: parsePrefix("203.0.113.7"), port, source: "trap" });
  assert.ok(await queue.drain());
  assert.deepEqual(fw.calls, [["203.0.113.7"]]);
  assert.equal(lines.filter((l) => l.includes("blocking")).length, 1);
  assert.equal(activeBans(store).length, 1);
  assert.equal(activeBans(store)[0]?.hits, 20);
  assert.deepEqual(fw.killed, ["203.0.113.7"]);
});

test("while one update is in flight the next ones wait and go together", async () => {
  const { fw, queue } = setup();
  let entered!: () => void;
  const inFlight = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  fw.gate = () => {
    fw.gate = () => Promise.resolve();
    entered();
    return released;
  };
  queue.submit({ prefix: parsePrefix("198.18.0.1"), source: "trap" });
  await inFlight; // the first update is in the firewall's hands, held there
  for (let i = 2; i <= 100; i++) queue.submit({ prefix: parsePrefix(`198.18.0.${i}`), source: "trap" });
  release();
  assert.ok(await queue.drain());
  assert.equal(fw.calls.length, 2);
  assert.equal(fw.calls[1]?.length, 99);
});

test("a failing firewall is retried with backoff; nothing is dropped", async () => {
  const { fw, queue, store, lines } = setup();
  let failures = 3;
  fw.refuse = () => failures-- > 0;
  queue.submit({ prefix: parsePrefix("192.0.2.50"), source: "trap" });
  assert.ok(await queue.drain(10_000));
  assert.deepEqual(fw.calls, [["192.0.2.50"]]);
  assert.equal(activeBans(store).length, 1);
  assert.ok(lines.some((l) => l.includes("retrying")));
});

test("one entry the firewall refuses does not hold back the rest", async () => {
  const { fw, queue, store } = setup();
  fw.refuse = (p) => p.address === "192.0.2.13";
  for (let i = 10; i < 20; i++) queue.submit({ prefix: parsePrefix(`192.0.2.${i}`), source: "trap" });
  assert.equal(await queue.drain(500), false);
  const applied = fw.calls.flat().sort();
  assert.equal(applied.length, 9);
  assert.ok(!applied.includes("192.0.2.13"));
  // Still recorded, still waiting for the firewall: not lost.
  assert.equal(activeBans(store).length, 10);
  queue.close();
});

test("ban() waits for the firewall; unban ends the ban; a hit after that bans again", async () => {
  const { fw, queue, store } = setup();
  const p = parsePrefix("203.0.113.8");
  await queue.ban({ prefix: p, source: "cli", reason: "test" });
  assert.deepEqual(fw.calls, [["203.0.113.8"]]);
  assert.equal(await queue.unban(p), true);
  assert.equal(await queue.unban(p), false);
  assert.equal(activeBans(store).length, 0);
  await queue.ban({ prefix: p, source: "trap" });
  assert.equal(fw.calls.length, 2);
});

test("reconcile puts stored bans back without announcing them again, and removes what ended", async () => {
  const { fw, store, lines } = setup();
  const now = Date.now();
  store.recordHits([{ prefix: parsePrefix("203.0.113.9"), ports: new Map([[23, 1]]), source: "trap", at: now }], hitPolicy(DEFAULT_RULES));
  store.recordHits([{ prefix: parsePrefix("203.0.113.10"), ports: new Map([[23, 1]]), source: "trap", at: now }], hitPolicy(DEFAULT_RULES));
  store.endBan(parsePrefix("203.0.113.10"), { kind: "unban", reason: "cli" });
  fw.held = ["203.0.113.10"]; // left in the firewall after its unban
  const queue = new BanQueue(store, fw, new Logger((l) => lines.push(l)));
  const reconciler = new Reconciler(store, queue, new Logger((l) => lines.push(l)));
  assert.deepEqual(await reconciler.scan(), { held: 1, adopted: 0, removed: 1, retimed: 0 });
  assert.equal(await reconciler.restore(), 1);
  assert.ok(await queue.drain());
  assert.deepEqual(fw.restored, ["203.0.113.9"]);
  assert.deepEqual(fw.calls, []);
  assert.deepEqual(fw.removed, ["203.0.113.10"]);
  assert.equal(lines.filter((l) => l.includes("blocking")).length, 0);
});

test("a wider ban ends the narrower ones inside it, in the store and the firewall", async () => {
  const { fw, store, queue } = setup();
  await queue.ban({ prefix: parsePrefix("198.51.100.0/25"), source: "cli" });
  // A hit inside a wider ban in force only counts on it (the admin's ban itself is no hit).
  await queue.ban({ prefix: parsePrefix("198.51.100.7"), source: "trap" });
  assert.deepEqual(activeBans(store).map((r) => [r.prefix, r.hits]), [["198.51.100.0/25", 1]]);
  await queue.ban({ prefix: parsePrefix("198.51.100.128"), source: "trap" });
  await queue.ban({ prefix: parsePrefix("198.51.100.0/24"), source: "cli" });
  assert.deepEqual(activeBans(store).map((r) => r.prefix), ["198.51.100.0/24"]);
  assert.deepEqual(fw.removed.sort(), ["198.51.100.0/25", "198.51.100.128"]);
});

test("ban --time on a ban in force changes its length", async () => {
  const { store, queue } = setup();
  await queue.ban({ prefix: parsePrefix("192.0.2.60"), source: "trap" });
  assert.equal(activeBans(store)[0]?.expires_at, null);
  await queue.ban({ prefix: parsePrefix("192.0.2.60"), source: "cli", durationMs: 60_000, reason: "shorter" });
  const row = activeBans(store)[0];
  assert.ok(row?.expires_at && Math.abs(row.expires_at - Date.now() - 60_000) < 5_000, JSON.stringify(row));
  assert.equal(row.reason, "shorter");
});

test("bounds: callers waiting for the firewall are capped at MAX_WAITERS; a storm of distinct sources leaves nothing behind", async () => {
  const { fw, queue } = setup();
  fw.delayMs = 300;
  const waits: Promise<void>[] = [];
  for (let i = 0; i < MAX_WAITERS; i++) waits.push(queue.ban({ prefix: parsePrefix(`198.18.${i >> 8}.${i & 255}`), source: "cli" }));
  await assert.rejects(queue.ban({ prefix: parsePrefix("198.19.0.1"), source: "cli" }), /already wait for the firewall/);
  await Promise.all(waits);
  // Once they are settled there is room again.
  fw.delayMs = 0;
  await queue.ban({ prefix: parsePrefix("198.19.0.1"), source: "cli" });
  for (let i = 0; i < 50_000; i++) queue.submit({ prefix: parsePrefix(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`), port: 23, source: "trap" });
  assert.ok(await queue.drain(60_000));
  assert.deepEqual(queue.sizes(), { pending: 0, unapplied: 0, unremoved: 0, waiters: 0 });
});

void test("an import batch the firewall refuses is retried one by one, and each ban that lands is told to the listeners, without a log line each", async () => {
  const { fw, store, queue, lines } = setup();
  const told: string[] = [];
  queue.changes.on((c) => {
    if (c.kind === "ban") told.push(formatPrefix(c.prefix));
  });
  const refused = parsePrefix("198.51.100.9");
  fw.refuse = (p) => formatPrefix(p) === formatPrefix(refused);
  await queue.imports.importBans(["198.51.100.7", "198.51.100.8", "198.51.100.9"].map((a) => parsePrefix(a)), { source: "import", reason: null, durationMs: Infinity });
  await queue.imports.importBans([], { source: "import", reason: null, durationMs: Infinity });
  await queue.drain(2_000);
  assert.deepEqual(told.sort(), ["198.51.100.7", "198.51.100.8"]);
  assert.ok(!lines.some((l) => /blocking 198\.51\.100\.[78]/.test(l)), lines.join("\n"));
  queue.close();
  store.close();
});
