import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { BanQueue } from "../../src/bans/queue.js";
import { Reconciler } from "../../src/bans/reconciler.js";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { PfFirewall } from "../../src/firewall/pf.js";
import { makeFirewall } from "../../src/firewall/registry.js";
import { Logger } from "../../src/log.js";
import { formatPrefix, parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";
import { banRulesFor } from "../../src/bans/rules.js";
import { fakePf } from "../support/fake-pf.js";
import { held } from "../support/held.js";
import { runFirewallSuite } from "../support/firewall-suite.js";

runFirewallSuite({
  name: "pf (fake pfctl)",
  make: () => {
    const f = fakePf();
    return new PfFirewall({ table: "suite", pfctl: f.pfctl, commandPrefix: [] });
  },
  skip: false,
});

function pfConfig(f: ReturnType<typeof fakePf>, extra: Record<string, unknown> = {}) {
  return validateConfig(
    { firewall: "pf", table: "blocked_tcp", pfctl: f.pfctl, command_prefix: [f.doas, "-n"], state_dir: f.dir, ...extra },
    "test",
  );
}

test("pf: exact commands through doas -n; one add per batch however many connections; states killed", async () => {
  const f = fakePf();
  const fw = makeFirewall(pfConfig(f));
  const queue = new BanQueue(new Store(":memory:"), fw, new Logger(() => undefined));
  for (let i = 0; i < 20; i++) queue.submit({ prefix: parsePrefix("203.0.113.7"), port: 1000 + i, source: "trap" });
  queue.submit({ prefix: parsePrefix("2001:db8:5::/64"), port: 23, source: "trap" });
  assert.ok(await queue.drain());
  const pfctlCalls = f.calls().filter((c) => c[0] === "pfctl");
  assert.deepEqual(pfctlCalls, [
    ["pfctl", "-t", "blocked_tcp", "-T", "add", "-f", "-"],
    ["pfctl", "-k", "203.0.113.7"],
    ["pfctl", "-k", "2001:db8:5::/64"],
  ]);
  assert.deepEqual(f.inputs(), ["203.0.113.7\n2001:db8:5::/64\n"]);
  // every pfctl call went through doas -n with pfctl's configured path
  const doasCalls = f.calls().filter((c) => c[0] === "doas");
  assert.deepEqual(doasCalls[0], ["doas", "-n", f.pfctl, "-t", "blocked_tcp", "-T", "add", "-f", "-"]);
  assert.equal(doasCalls.length, 3);
  assert.deepEqual((await held(fw)).map((p) => p.address).sort(), ["2001:db8:5::", "203.0.113.7"]);
});

test("pf at scale: 250,000 addresses in three pfctl processes on standard input; delete and replace alike", async () => {
  const f = fakePf();
  const fw = new PfFirewall({ table: "t", pfctl: f.pfctl, commandPrefix: [] });
  const addr = (i: number): string => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const bans = Array.from({ length: 250_000 }, (_, i) => ({ prefix: parsePrefix(addr(i)) }));
  await fw.add(bans);
  assert.deepEqual(f.calls(), [
    ["pfctl", "-t", "t", "-T", "add", "-f", "-"],
    ["pfctl", "-t", "t", "-T", "add", "-f", "-"],
    ["pfctl", "-t", "t", "-T", "add", "-f", "-"],
  ]);
  const inputs = f.inputs();
  assert.deepEqual(
    inputs.map((t) => t.split("\n").length - 1),
    [100_000, 100_000, 50_000],
  );
  assert.equal(inputs[0]?.split("\n")[0], "198.18.0.0");
  assert.equal(inputs[2]?.split("\n").at(-2), addr(249_999));
  assert.equal((await held(fw)).length, 250_000);

  await fw.remove(bans.slice(0, 3).map((b) => b.prefix));
  assert.deepEqual(f.calls().at(-1), ["pfctl", "-t", "t", "-T", "delete", "-f", "-"]);
  assert.equal(f.inputs().at(-1), "198.18.0.0\n198.18.0.1\n198.18.0.2\n");

  // A restore makes the table match the store in one call.
  const pages = [[{ prefix: parsePrefix("203.0.113.5") }], [{ prefix: parsePrefix("2001:db8:9::/64") }]];
  async function* paged(): AsyncGenerator<{ prefix: ReturnType<typeof parsePrefix> }[]> {
    for (const page of pages) yield await Promise.resolve(page);
  }
  assert.equal(await fw.restore(paged), 2);
  assert.deepEqual(f.calls().at(-1), ["pfctl", "-t", "t", "-T", "replace", "-f", "-"]);
  assert.equal(f.inputs().at(-1), "203.0.113.5\n2001:db8:9::/64\n");
  assert.deepEqual((await held(fw)).map((p) => p.address).sort(), ["2001:db8:9::", "203.0.113.5"]);
});

test("pf: a failing pfctl is retried and the ban applied; its stderr is reported", async () => {
  const f = fakePf();
  const lines: string[] = [];
  const queue = new BanQueue(new Store(":memory:"), makeFirewall(pfConfig(f)), new Logger((l) => lines.push(l)));
  f.failNext(2);
  queue.submit({ prefix: parsePrefix("192.0.2.77"), source: "trap" });
  assert.ok(await queue.drain(10_000));
  const adds = f.calls().filter((c) => c[0] === "pfctl" && c[4] === "add");
  assert.equal(adds.length, 3);
  assert.ok(lines.some((l) => l.includes("Device busy") && l.includes("retrying")), lines.join("\n"));
});

test("pf: a bad table name is refused before anything runs", () => {
  const f = fakePf();
  for (const table of ["bad table", "x;reboot", "a".repeat(32), "-T"]) {
    assert.throws(
      () => pfConfig(f, { table }),
      (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && e.message.includes('"table"'),
    );
  }
  assert.deepEqual(f.calls(), []);
});

test("pf: a doas without -n is refused instead of hanging for a password", async () => {
  const f = fakePf();
  const fw = new PfFirewall({ table: "t", pfctl: f.pfctl, commandPrefix: [f.doas] });
  await assert.rejects(fw.add([{ prefix: parsePrefix("192.0.2.1") }]), /would prompt/);
});

test("pf: a scan adopts only single addresses, for the store's first offence; a negated entry or a wide prefix nobody recorded is not a ban", async () => {
  const f = fakePf();
  const config = pfConfig(f);
  const fw = makeFirewall(config);
  await fw.add([{ prefix: parsePrefix("198.51.100.9") }, { prefix: parsePrefix("0.0.0.0/2") }]);
  // What an admin's hand or pf.conf puts in a table: an exemption.
  execFileSync(f.pfctl, ["-t", "blocked_tcp", "-T", "add", "!198.51.100.7"]);
  const store = new Store(":memory:");
  const lines: string[] = [];
  const queue = new BanQueue(store, fw, new Logger((l) => lines.push(l)), banRulesFor(config));
  const r = await new Reconciler(store, queue, new Logger((l) => lines.push(l))).scan();
  assert.ok(await queue.drain());
  assert.deepEqual(r, { held: 2, adopted: 1, removed: 1, retimed: 0 });
  const rows = [...store.activePages(100)].flat();
  assert.deepEqual(rows.map((row) => [row.prefix, row.source]), [["198.51.100.9/32", "adopted"]]);
  // PF's entries have no timeout and never expire by themselves: the adopted ban has the rules' end.
  assert.ok(rows[0]?.expires_at !== null && rows[0]?.expires_at !== undefined, `an adopted PF ban ends: ${JSON.stringify(rows[0])}`);
  assert.deepEqual((await held(fw)).map(formatPrefix), ["198.51.100.9"], "the wide prefix nobody recorded is deleted");
  assert.match(execFileSync(f.pfctl, ["-t", "blocked_tcp", "-T", "show"], { encoding: "utf8" }), /!198\.51\.100\.7/, "the exemption is left as it was");
  assert.ok(lines.some((l) => /adopted 1 ban\(s\) found in the firewall/.test(l)), lines.join("\n"));
  assert.ok(!lines.some((l) => /blocking/.test(l)), `no "blocking" line for what was found:\n${lines.join("\n")}`);
});
