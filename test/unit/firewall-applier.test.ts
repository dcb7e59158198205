// The firewall's side of the queue: behaviour chosen by the error's type, and
// one list of removal listeners told by every path that ends a ban.
import assert from "node:assert/strict";
import { test } from "node:test";
import { expireBans } from "../../src/bans/expiry.js";
import { BanQueue } from "../../src/bans/queue.js";
import { SetFullError, type FirewallBan } from "../../src/firewall/firewall.js";
import { FakeFirewall } from "../support/fake-firewall.js";
import { Logger } from "../../src/log.js";
import { formatPrefix, parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

/** Refuses every single address with `refusal()`; records what it holds. */
class FullFirewall extends FakeFirewall {
  override readonly name = "full";
  refusal: () => Error = () => new SetFullError("the set is full");
  override add(bans: readonly FirewallBan[]): Promise<void> {
    if (bans.some((b) => b.prefix.length === 32)) return Promise.reject(this.refusal());
    return super.add(bans);
  }
}

function setup(): { fw: FullFirewall; store: Store; queue: BanQueue; lines: string[] } {
  const lines: string[] = [];
  const fw = new FullFirewall();
  const store = new Store(":memory:");
  return { fw, store, queue: new BanQueue(store, fw, new Logger((l) => lines.push(l))), lines };
}

void test("a SetFullError bans the /24 instead, said once; the address stays in the store as history", async () => {
  const { fw, store, queue, lines } = setup();
  for (const a of ["192.0.2.1", "192.0.2.2", "198.51.100.9"]) queue.submit({ prefix: parsePrefix(a), port: 23, source: "trap" });
  assert.ok(await queue.drain());
  assert.deepEqual(fw.added.sort(), ["192.0.2.0/24", "198.51.100.0/24"]);
  assert.equal(lines.filter((l) => l.includes("the ban set is full")).length, 1);
  assert.equal(store.lastBan(parsePrefix("192.0.2.1"))?.end_reason, "covered by 192.0.2.0/24 (ban set full)");
  queue.close();
});

void test("any other error, whatever its text, is a refusal retried as it is: never widened", async () => {
  const { fw, queue, lines } = setup();
  fw.refusal = () => new Error("Too many open files in system");
  queue.submit({ prefix: parsePrefix("192.0.2.1"), port: 23, source: "trap" });
  assert.equal(await queue.drain(300), false);
  assert.deepEqual(fw.added, []);
  assert.ok(lines.some((l) => l.includes("firewall refused 1 ban(s), retrying")), lines.join("\n"));
  assert.ok(!lines.some((l) => l.includes("the ban set is full")));
  queue.close();
});

void test("every path that ends a ban tells the removal listeners before the firewall call", async () => {
  const { fw, store, queue } = setup();
  fw.add = (bans) => {
    fw.added.push(...bans.map((b) => formatPrefix(b.prefix)));
    return Promise.resolve();
  };
  const told: string[] = [];
  queue.applier.onRemoved((p) => told.push(`${formatPrefix(p)} ${fw.removed.includes(formatPrefix(p)) ? "after" : "before"}`));
  await queue.ban({ prefix: parsePrefix("192.0.2.1"), source: "cli" });
  await queue.unban(parsePrefix("192.0.2.1"));
  await queue.ban({ prefix: parsePrefix("192.0.2.2"), source: "cli", durationMs: 1 });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(await expireBans(store, queue.applier), 1);
  await queue.ban({ prefix: parsePrefix("198.51.100.0/25"), source: "cli" });
  await queue.ban({ prefix: parsePrefix("198.51.100.0/24"), source: "cli" });
  await queue.imports.removeEnded([parsePrefix("203.0.113.0/24")], "feed gone");
  assert.deepEqual(told, ["192.0.2.1 before", "192.0.2.2 before", "198.51.100.0/25 before", "203.0.113.0/24 before"]);
  queue.close();
});
