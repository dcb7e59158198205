// `iblock import` takes the formats people have (export's lines, the C
// original's `pfctl -T show` persist file, published lists with comments),
// refuses and counts what must not be banned, and the rest is dropped in the
// kernel at once; `list --limit/--since` page through what is in force.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertDropped, assertServed } from "../support/checks.js";
import { exec } from "../support/netns.js";
import { CLI_JS, startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

const FILE = `# published by a friendly host
   192.0.2.3
203.0.113.0/28 ; SBL123 trailing text
2001:db8:0:2::/64
198.51.100.9   # a comment after the address
198.51.100.9
not-an-address
203.0.113.77/24
127.0.0.1
0.0.0.0/1
`;

test("import: persist-file and list formats, bad lines refused and counted, the rest dropped at once; list pages", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { trap_ports: [23] });
  const inst = d.instance;
  const file = join(inst.dir, "list.txt");
  await writeFile(file, FILE);

  const r = await inst.cli("import", [file, "--reason", "friend's list", "--time", "2h"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 4 ban\(s\) from 9 line\(s\)/);
  // Each line is held to `iblock ban`'s rules: 0.0.0.0/1 is wider than max_manual_v4.
  assert.match(r.stdout, /1 duplicate, refused 2 malformed, 1 allowed, 1 too wide, 0 this host's/);
  assert.match(r.stderr, /not-an-address/);
  await assertDropped(topo, ADDR.otherV4, d, "192.0.2.3 imported");
  await assertDropped(topo, ADDR.otherV6, d, "2001:db8:0:2::/64 imported");
  await assertServed(topo, ADDR.scannerV4, d, "not in the file");

  const listed = await inst.list();
  assert.deepEqual(listed.map((e) => e.prefix).sort(), ["192.0.2.3/32", "198.51.100.9/32", "2001:db8:0:2::/64", "203.0.113.0/28"]);
  assert.ok(listed.every((e) => e.source === "import" && e.reason === "friend's list"), JSON.stringify(listed));

  // Again, from standard input: everything is in force already.
  const again = await exec(inst.ns, [process.execPath, CLI_JS, "import", "-", "-c", inst.configPath], { env: inst.env(), check: false, input: FILE });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /imported 0 ban\(s\).*4 already banned/);

  const limited = await inst.cli("list", ["--limit", "2", "--json"]);
  assert.equal((JSON.parse(limited.stdout) as unknown[]).length, 2);
  const future = await inst.cli("list", ["--since", "2999-01-01", "--json"]);
  assert.deepEqual(JSON.parse(future.stdout), []);
  const bad = await inst.cli("list", ["--since", "yesterday"]);
  assert.equal(bad.code, 64, bad.stderr);

  const nothing = join(inst.dir, "nothing.txt");
  await writeFile(nothing, "garbage\n0.0.0.0/0\n");
  const refused = await inst.cli("import", [nothing]);
  assert.equal(refused.code, 65, refused.stdout + refused.stderr);
  assert.equal((await inst.list()).length, 4, "a refused import changes nothing");
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});

test("import: a network over a narrower interval ban ends that one first, keeps the trap bans inside, and is dropped at once", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const d = await startDaemon(t, topo.host, { trap_ports: [23] });
  const inst = d.instance;
  assert.equal((await inst.cli("ban", ["198.18.5.0/24"])).code, 0, d.tail());
  assert.equal((await inst.cli("ban", ["198.18.6.7"])).code, 0, d.tail());
  const file = join(inst.dir, "wide.txt");
  await writeFile(file, "198.18.4.0/22\n");

  const r = await inst.cli("import", [file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 1 ban\(s\)/);
  // Without ending the /24 first, nftables refuses the overlapping interval and the /22 waits.
  await assertDropped(topo, "198.18.4.9", d, "inside the imported /22, outside the earlier /24");
  await assertDropped(topo, "198.18.5.9", d, "inside both");
  assert.ok(!d.lines.some((l) => /refused/.test(l)), `nothing refused\n${d.tail()}`);
  const listed = (await inst.list()).map((e) => e.prefix).sort();
  assert.deepEqual(listed, ["198.18.4.0/22", "198.18.6.7/32"], `the /24 ended as covered, the address kept\n${d.tail()}`);
  await assertServed(topo, "198.18.8.1", d, "outside the /22");
});
