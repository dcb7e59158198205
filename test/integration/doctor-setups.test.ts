// `iblock doctor` on setups it misjudged (issue 28): an inetd-only host (no
// daemon is normal there), secret files that `run` refuses, and stored bans
// the firewall lost.
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "smol-toml";
import { CLI_JS, createInstance, requireBuild } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology } from "../support/netns.js";
import { daemonWithTwoBans } from "../support/two-bans.js";

test("doctor: an inetd setup needs no daemon; the same config without inetd does", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "inetd"])) return;
  requireBuild();
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { listen_port: 666 });
  const noInetd = await inst.cli("doctor", [], 30_000);
  assert.match(noInetd.stdout, /^PROBLEM no daemon answers/m, noInetd.stdout);

  const conf = join(inst.dir, "inetd.conf");
  await writeFile(conf, `666 stream tcp nowait root ${CLI_JS} iblock blocked_tcp\n666 stream tcp6 nowait root ${CLI_JS} iblock blocked_tcp\n`);
  // inetd.conf names the inetd the admin set up: written, but no inetd yet.
  const inetd = topo.spawn(topo.host, ["/usr/sbin/inetd", "-d", conf]);
  t.after(() => inetd.stop("SIGTERM", 5000));
  await inetd.waitForLine(/666/, 5000).catch(() => undefined);
  const r = await inst.cli("doctor", [], 30_000);
  assert.match(r.stdout, new RegExp(`^ok +inetd mode \\(${conf} starts iblock for port 666\\): no daemon runs, each connection starts one iblock; inetd \\(pid \\d+\\) listens on 666$`, "m"), r.stdout);
  assert.doesNotMatch(r.stdout, /no daemon answers/);
});

test("doctor refuses the secret files run refuses, with run's own words", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  requireBuild();
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { firewall: "none" });
  const token = join(inst.dir, "token");
  const readToken = join(inst.dir, "read-token");
  await writeFile(token, "0123456789abcdef0123456789abcdef\n");
  await chmod(token, 0o644);
  await writeFile(readToken, "short\n");
  await chmod(readToken, 0o600);
  await writeFile(inst.configPath, stringify({ state_dir: inst.stateDir, firewall: "none", http: { enabled: true, token_file: token, read_token_file: readToken } }));
  const r = await inst.cli("doctor", [], 30_000);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^PROBLEM \\[http\\] token_file: ${token} has mode 0644: expected 0600 or 0400 .*"iblock run" would refuse to start$`, "m"), r.stdout);
  assert.match(r.stdout, new RegExp(`^PROBLEM \\[http\\] read_token_file: ${readToken} must hold one token of at least 16 characters`, "m"), r.stdout);
  // run refuses the same file (the words doctor repeats are run's).
  const run = await inst.cli("run", [], 30_000);
  assert.equal(run.code, 78, run.stdout + run.stderr);
  assert.match(run.stderr, /token_file: .* has mode 0644/);

  await chmod(token, 0o600);
  await writeFile(readToken, "fedcba9876543210fedcba9876543210\n");
  const fixed = await inst.cli("doctor", [], 30_000);
  assert.match(fixed.stdout, new RegExp(`^ok +\\[http\\] token_file ${token} can be read and holds a usable secret$`, "m"), fixed.stdout);
  assert.match(fixed.stdout, /^ok +\[http\] read_token_file /m, fixed.stdout);
});

test("doctor counts the stored bans the firewall lost and names a few", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const { inst, d } = await daemonWithTwoBans(t, topo);
  const whole = await inst.cli("doctor", [], 30_000);
  assert.match(whole.stdout, /^ok +the firewall holds all 2 ban\(s\) in force of the store$/m, whole.stdout);

  await d.stop();
  // An element lost (deleted by hand, a failed apply): the table and its sets are all there.
  await topo.execHost(["nft", "delete", "element", "inet", "iblock", "iblocked_v4", "{ 192.0.2.2 }"]);
  const r = await inst.cli("doctor", [], 30_000);
  assert.match(r.stdout, /^ok +table inet iblock, its drop rule and ban sets are in place$/m, r.stdout);
  assert.match(r.stdout, /^PROBLEM 1 of 2 ban\(s\) in force in the store are missing from the firewall \(192\.0\.2\.2\)/m, r.stdout);
});
