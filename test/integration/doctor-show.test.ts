// `iblock doctor` and `iblock show` against a real daemon in a namespace.
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { CLI_JS, createInstance, startDaemon, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, exec, uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";

// A stand-in for a real service someone runs on a trap port (FTP on 21).
const FTP = `require("node:net").createServer((s) => s.end()).listen(21, "0.0.0.0", () => console.log("listening"));`;

test("doctor flags a trap port a local service listens on, and the SSH address missing from allow", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const ftp = topo.spawnNode(topo.host, FTP);
  t.after(() => ftp.stop("SIGTERM", 5000));
  await ftp.waitForLine(/listening/, 5000);
  const d = await startDaemon(t, topo.host, { allow: ["198.51.100.0/24"] });
  await d.waitForLine(/trap port 21 skipped: .*node/, 10_000);

  const r = await d.instance.cli("doctor", [], 30_000);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^PROBLEM trap port 21 is served by node/m);
  assert.match(r.stdout, /^ok +daemon running/m);
  assert.match(r.stdout, /^ok +nft is \/\S+\/nft$/m);
  assert.match(r.stdout, /^ok +table inet iblock, its drop rule and ban sets are in place/m);
  // the daemon's own trap listeners are not taken for services
  assert.doesNotMatch(r.stdout, /trap port 23 is served/);

  const env = d.instance.env();
  const withSsh = await exec(topo.host, [process.execPath, CLI_JS, "doctor", "-c", d.instance.configPath], {
    env: { ...env, SSH_CLIENT: "203.0.113.50 50000 22" },
    check: false,
  });
  assert.match(withSsh.stdout, /^PROBLEM your SSH address 203\.0\.113\.50 is not in "allow"/m);
  const allowedSsh = await exec(topo.host, [process.execPath, CLI_JS, "doctor", "-c", d.instance.configPath], {
    env: { ...env, SSH_CLIENT: "198.51.100.9 50000 22" },
    check: false,
  });
  assert.match(allowedSsh.stdout, /^ok +your SSH address 198\.51\.100\.9 is in the allow list/m);

  // With the service gone and the table deleted, doctor says so.
  await ftp.stop("SIGTERM", 5000);
  await d.stop();
  await topo.execHost(["nft", "delete", "table", "inet", "iblock"]);
  const after = await d.instance.cli("doctor", [], 30_000);
  assert.equal(after.code, 1);
  assert.match(after.stdout, /^PROBLEM no daemon answers/m);
  assert.match(after.stdout, /^PROBLEM table inet iblock or its rules are missing/m);
  assert.match(after.stdout, /^ok +no local service listens on a trap port/m);
});

test("doctor finds the programs iblock runs with no PATH at all, and says when one is missing", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const ns = uniqueName("doctor");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  const inst = await createInstance(t, ns, { firewall: "nftables", syslog: true });
  const bare = inst.env();
  delete bare.PATH;
  // As inetd would run it: no PATH in the environment.
  const r = await run(["/usr/sbin/ip", "netns", "exec", ns, process.execPath, CLI_JS, "doctor", "-c", inst.configPath], { env: bare, check: false });
  for (const name of ["nft", "conntrack", "ss", "logger"]) assert.match(r.stdout, new RegExp(`^ok +${name} is /\\S+/${name}$`, "m"), r.stdout + r.stderr);
  assert.match(r.stdout, /^ok +nft works with our privileges$/m, r.stdout + r.stderr);
  const empty = await tempDir(t);
  const missing = await run(["/usr/sbin/ip", "netns", "exec", ns, process.execPath, CLI_JS, "doctor", "-c", inst.configPath], { env: { ...bare, PATH: empty }, check: false });
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, /^PROBLEM nft is not found on PATH/m, missing.stdout);
});

test("show tells an address's history: bans, hits, ports, when it ends", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { ban_time: "2h" });
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await waitListed(d.instance, "192.0.2.2/32");
  const r = await d.instance.cli("show", ["--json", ADDR.scannerV4]);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { prefixes: { prefix: string; banned: boolean; hits: number; ports: { port: number }[]; bans: { until: string | null; ended: boolean; source: string }[] }[] };
  const p = view.prefixes[0];
  assert.ok(p);
  assert.equal(p.prefix, "192.0.2.2");
  assert.equal(p.banned, true);
  assert.ok(p.hits >= 1);
  assert.deepEqual(p.ports.map((x) => x.port), [23]);
  assert.equal(p.bans.length, 1);
  const until = Date.parse(p.bans[0]?.until ?? "");
  assert.ok(Math.abs(until - Date.now() - 2 * 3_600_000) < 60_000, `ends in about 2 h: ${p.bans[0]?.until}`);

  const text = await d.instance.cli("show", [ADDR.scannerV4]);
  assert.match(text.stdout, /^192\.0\.2\.2: banned, \d+ hit\(s\), ports 23 \(\d+\)$/m);
  const v6 = await d.instance.cli("show", ["--json", ADDR.otherV6]);
  assert.equal(v6.code, 0);
  assert.ok((JSON.parse(v6.stdout) as { prefixes: { banned: boolean }[] }).prefixes.every((x) => !x.banned));
  const bad = await d.instance.cli("show", ["203.0.113.9; reboot"]);
  assert.equal(bad.code, 65);

  // ban --time: a manual ban with its own length; a bad length is a usage error
  const timed = await d.instance.cli("ban", [ADDR.otherV4, "--time", "90s"]);
  assert.equal(timed.code, 0, timed.stderr);
  const entry = (await d.instance.list()).find((e) => e.prefix === "192.0.2.3/32");
  const expires = Date.parse(String(entry?.expires));
  assert.ok(Math.abs(expires - Date.now() - 90_000) < 10_000, `about 90 s: ${String(entry?.expires)}`);
  assert.equal((await d.instance.cli("ban", [ADDR.otherV4, "--time", "soon"])).code, 64);
});

test("doctor under catch_syn_scans names the gateway and resolvers missing from allow, read as a ban reads them", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  // `ip netns exec NAME` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
  const etc = join("/etc/netns", topo.host);
  await mkdir(etc, { recursive: true });
  t.after(() => rm(etc, { recursive: true, force: true }));
  await writeFile(join(etc, "resolv.conf"), "nameserver 198.51.100.53\nnameserver 203.0.113.53\n");
  await run(["ip", "-n", topo.host, "route", "add", "default", "via", ADDR.otherV4]);
  const inst = await createInstance(t, topo.host);
  await inst.writeConfig({ catch_syn_scans: true, allow: ["198.51.100.0/24"] });
  const r = await inst.cli("doctor", [], 30_000);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^PROBLEM catch_syn_scans is on and 192\.0\.2\.3 \(gateway, from \/proc\/net\/route\) is not in "allow"/m);
  assert.match(r.stdout, /^PROBLEM catch_syn_scans is on and 203\.0\.113\.53 \(resolver, from \/etc\/resolv\.conf\) is not in "allow"/m);
  assert.doesNotMatch(r.stdout, /198\.51\.100\.53/, "an allowed resolver is no problem");
  assert.doesNotMatch(r.stdout, /no \/proc\/net\/route/, "Linux has it");
});
