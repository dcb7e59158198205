// fail2ban's and sshguard's batches (control/tool-bans.ts) against the real
// store and queue, with a firewall that records what it was given.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import { DEFAULT_RULES } from "../../src/bans/rules.js";
import { ToolBans } from "../../src/control/tool-bans.js";
import { Logger } from "../../src/log.js";
import { parsePrefix } from "../../src/net/address.js";
import { AllowList } from "../../src/policy/allow.js";
import { Policy } from "../../src/policy/policy.js";
import { Store } from "../../src/store/store.js";
import { FakeFirewall } from "../support/fake-firewall.js";

function setup(): { store: Store; fw: FakeFirewall; queue: BanQueue; tools: ToolBans } {
  const log = new Logger(() => undefined);
  const store = new Store(":memory:");
  const fw = new FakeFirewall();
  // Trap bans of a day (the default is the original's permanent).
  const queue = new BanQueue(store, fw, log, { ...DEFAULT_RULES, times: { banMs: 86_400_000, multiplier: 2, maxMs: 30 * 86_400_000 } });
  // ipv6_prefix 64: a trap hit from an IPv6 address bans its /64.
  const policy = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => []);
  return { store, fw, queue, tools: new ToolBans(store, queue, policy, log) };
}

test("a tool's ban is of the address it names: releasing one address keeps the jail's longer ban of a neighbour in the same /64", async () => {
  const { store, fw, tools } = setup();
  const out = await tools.apply("fail2ban", [
    { op: "ban", address: "2001:db8::2", reason: "sshd", time: "7d" },
    { op: "ban", address: "2001:db8::1", reason: "sshd", time: "10m" },
  ]);
  assert.equal(out.banned, 2);
  assert.deepEqual(fw.added.sort(), ["2001:db8::1", "2001:db8::2"]);
  const released = await tools.apply("fail2ban", [{ op: "unban", address: "2001:db8::1", reason: "sshd" }]);
  assert.equal(released.released, 1);
  assert.equal(store.isBanned(parsePrefix("2001:db8::1")), false);
  assert.equal(store.isBanned(parsePrefix("2001:db8::2")), true, "the week-long ban of ::2 is still in force");
  assert.deepEqual(fw.removed, ["2001:db8::1"]);
});

test("sshguard's flush lifts every ban sshguard holds and nothing else", async () => {
  const { store, tools } = setup();
  await tools.apply("sshguard", [
    { op: "ban", address: "192.0.2.1" },
    { op: "ban", address: "198.51.100.0/24" },
  ]);
  await tools.apply("fail2ban", [{ op: "ban", address: "192.0.2.2", reason: "sshd", time: "1h" }]);
  const out = await tools.apply("sshguard", [{ op: "flush" }]);
  assert.equal(out.released, 2);
  assert.equal(store.isBanned(parsePrefix("192.0.2.1")), false);
  assert.equal(store.isBanned(parsePrefix("198.51.100.0/24")), false);
  assert.equal(store.isBanned(parsePrefix("192.0.2.2")), true, "fail2ban's ban stays");
});

test("a tool's address and a trap's /64 around it are held side by side (different sets): neither ends nor swallows the other", async () => {
  const { store, fw, queue, tools } = setup();
  // fail2ban first, then anyone's SYN from the same /64 (forgeable, an hour).
  await tools.apply("fail2ban", [{ op: "ban", address: "2001:db8::1", reason: "recidive", time: "permanent" }]);
  queue.submit({ prefix: parsePrefix("2001:db8::/64"), port: 23, source: "syn" });
  assert.ok(await queue.drain());
  assert.equal(store.openBan(parsePrefix("2001:db8::1/128"))?.expires_at, null, "fail2ban's permanent ban stays");
  assert.ok(store.isBanned(parsePrefix("2001:db8::/64")));
  assert.deepEqual(fw.removed, []);
  // The other order: a SYN's /64 first, then fail2ban's permanent ban inside it gets its own.
  queue.submit({ prefix: parsePrefix("2001:db8:1::/64"), port: 23, source: "syn" });
  assert.ok(await queue.drain());
  const out = await tools.apply("fail2ban", [{ op: "ban", address: "2001:db8:1::7", reason: "recidive", time: "permanent" }]);
  assert.equal(out.banned, 1);
  assert.equal(store.openBan(parsePrefix("2001:db8:1::7/128"))?.expires_at, null, "a ban of its own, permanent");
});

test("a jail's longer ban takes over a shorter one in force, so the jail's release lifts it; a shorter one only counts", async () => {
  const { store, tools } = setup();
  await tools.apply("sshguard", [{ op: "ban", address: "192.0.2.7", time: "1h" }]);
  await tools.apply("fail2ban", [{ op: "ban", address: "192.0.2.7", reason: "sshd", time: "7d" }]);
  assert.equal(store.openBan(parsePrefix("192.0.2.7"))?.source, "fail2ban");
  const kept = await tools.apply("sshguard", [{ op: "unban", address: "192.0.2.7" }]);
  assert.equal(kept.kept, 1, "sshguard's release no longer lifts fail2ban's week");
  assert.ok(store.isBanned(parsePrefix("192.0.2.7")));
  const released = await tools.apply("fail2ban", [{ op: "unban", address: "192.0.2.7", reason: "sshd" }]);
  assert.equal(released.released, 1);
  assert.equal(store.isBanned(parsePrefix("192.0.2.7")), false);
});

test("a tool's address gets no ban of its own where a wider ban of another length holds it too: nftables' interval set refuses overlaps", async () => {
  const { store, fw, queue, tools } = setup();
  // A person's /48 for an hour (interval set), a trap's /64 inside it for a day (keyed set).
  queue.submit({ prefix: parsePrefix("2001:db8::/48"), source: "cli", durationMs: 3_600_000 });
  assert.ok(await queue.drain());
  queue.submit({ prefix: parsePrefix("2001:db8::/64"), port: 23, source: "trap" });
  assert.ok(await queue.drain());
  assert.ok(store.isBanned(parsePrefix("2001:db8::/64")));
  await tools.apply("fail2ban", [{ op: "ban", address: "2001:db8::1", reason: "recidive", time: "permanent" }]);
  assert.equal(store.openBan(parsePrefix("2001:db8::1/128")), undefined, "it counts on the bans around it");
  assert.equal(fw.added.includes("2001:db8::1"), false);
});

test("a person's ban lengthened by a tool stays the person's: the tool's release or flush does not lift it", async () => {
  const { store, queue, tools } = setup();
  queue.submit({ prefix: parsePrefix("192.0.2.7"), source: "cli", durationMs: 7 * 86_400_000 });
  assert.ok(await queue.drain());
  await tools.apply("sshguard", [{ op: "ban", address: "192.0.2.7", time: "30d" }]);
  const row = store.openBan(parsePrefix("192.0.2.7"));
  assert.equal(row?.source, "cli");
  assert.ok((row?.expires_at ?? 0) > Date.now() + 29 * 86_400_000, "lengthened to sshguard's 30 days");
  const out = await tools.apply("sshguard", [{ op: "flush" }]);
  assert.equal(out.released, 0);
  assert.ok(store.isBanned(parsePrefix("192.0.2.7")));
});
