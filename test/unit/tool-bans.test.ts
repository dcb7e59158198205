// fail2ban's and sshguard's batches (control/tool-bans.ts) against the real
// store and queue, with a firewall that records what it was given.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import { ToolBans } from "../../src/control/tool-bans.js";
import { Logger } from "../../src/log.js";
import { parsePrefix } from "../../src/net/address.js";
import { AllowList } from "../../src/policy/allow.js";
import { Policy } from "../../src/policy/policy.js";
import { Store } from "../../src/store/store.js";
import { FakeFirewall } from "../support/fake-firewall.js";

function setup(): { store: Store; fw: FakeFirewall; tools: ToolBans } {
  const log = new Logger(() => undefined);
  const store = new Store(":memory:");
  const fw = new FakeFirewall();
  const queue = new BanQueue(store, fw, log);
  // ipv6_prefix 64: a trap hit from an IPv6 address bans its /64.
  const policy = new Policy(new AllowList([]), { ipv4: 32, ipv6: 64 }, { ipv4: 16, ipv6: 32 }, () => []);
  return { store, fw, tools: new ToolBans(store, queue, policy, log) };
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
