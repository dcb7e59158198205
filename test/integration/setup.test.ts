// `iblock setup TARGET`, `iblock munin`, `iblock export`: the files and outputs
// users of the original rely on, checked by the real tools where they exist here.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "smol-toml";
import { CLI_JS, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { spawnIn, uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";

async function iblock(config: string, args: string[], stateDir?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireBuild();
  const env = { ...process.env, ...(stateDir ? { IBLOCK_STATE_DIR: stateDir } : {}) };
  return run([process.execPath, CLI_JS, ...args, "-c", config], { check: false, env });
}

async function configFile(t: Parameters<typeof tempDir>[0], values: Record<string, unknown>): Promise<{ file: string; dir: string }> {
  const dir = await tempDir(t);
  const file = join(dir, "iblock.toml");
  await writeFile(file, stringify({ state_dir: join(dir, "state"), ...values }));
  return { file, dir };
}

test("setup nftables: nft -c accepts it, in both listen modes, with and without the kernel route", async (t) => {
  if (!requireRoot(t)) return;
  const ns = uniqueName("setup");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  for (const [listen, kernel_route] of [["direct", true], ["redirect", true], ["redirect", false]] as const) {
    const { file, dir } = await configFile(t, { listen, kernel_route, allow: ["198.51.100.0/24", "2001:db8:9::/48"] });
    const r = await iblock(file, ["setup", "nftables"]);
    assert.equal(r.code, 0, r.stderr);
    const nftFile = join(dir, "iblock.nft");
    await writeFile(nftFile, r.stdout);
    const check = await run(["ip", "netns", "exec", ns, "nft", "-c", "-f", nftFile], { check: false });
    assert.equal(check.code, 0, `nft -c -f refused it:\n${check.stderr}\n${r.stdout}`);
    // The kernel route answers trap ports itself (synproxy); only the listener route redirects them.
    assert.equal(r.stdout.includes("redirect to :2507"), !kernel_route);
    assert.equal(r.stdout.includes("synproxy"), kernel_route);
  }
});

test("setup pf: the table, the block rule with its label, rdr-to for both families", async (t) => {
  const { file } = await configFile(t, { firewall: "pf", table: "blocked_tcp", listen_port: 666, trap_ports: [21, 23, "137-139", 6000] });
  const r = await iblock(file, ["setup", "pf"]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^iblock_ports = "\{ 21 23 137:139 6000 \}"$/m);
  assert.match(out, /^table <blocked_tcp> persist file "\/etc\/iblock-blocked_tcp\.txt"$/m);
  assert.match(out, /^block in quick from <blocked_tcp> label iblock$/m);
  assert.match(out, /^pass in quick on egress inet proto tcp to port \$iblock_ports rdr-to 127\.0\.0\.1 port 666$/m);
  assert.match(out, /^pass in quick on egress inet6 proto tcp to port \$iblock_ports rdr-to ::1 port 666$/m);
  assert.doesNotMatch(out, /overload/);

  const { file: withOverload } = await configFile(t, { firewall: "pf", table: "blocked_tcp", pf_overload: true, persist_file: "/var/db/bl.txt" });
  const o = (await iblock(withOverload, ["setup", "pf"])).stdout;
  assert.match(o, /persist file "\/var\/db\/bl\.txt"/);
  assert.equal(o.match(/keep state \(max-src-conn-rate 1\/60, overload <blocked_tcp> flush global\)/g)?.length, 2);
});

test("setup inetd, doas, rc: the original's lines for the configured table and port", async (t) => {
  const { file } = await configFile(t, { firewall: "pf", table: "blocked_tcp", listen_port: 666 });
  const inetd = (await iblock(file, ["setup", "inetd"])).stdout;
  // The iblock that printed them, and the config they were made from.
  for (const proto of ["tcp", "tcp6"]) assert.ok(inetd.includes(`\n666 stream ${proto} nowait _iblock ${CLI_JS} iblock -c ${file} blocked_tcp\n`), inetd);
  const doas = (await iblock(file, ["setup", "doas"])).stdout;
  assert.match(doas, /^permit nopass _iblock as root cmd \/sbin\/pfctl$/m);
  assert.match(doas, /_munin-plugin as root cmd \/sbin\/pfctl args -t blocked_tcp -T show/);
  const rc = (await iblock(file, ["setup", "rc"])).stdout;
  // The config it was made from, as inetd's lines carry it.
  assert.ok(rc.includes(`\ndaemon_flags="-c ${file} -t blocked_tcp -p 666"\n`), rc);
  assert.match(rc, /^daemon_user="_iblock"$/m);
  assert.match(rc, /^rc_cmd \$1$/m);
  // rc.d has no way to hand the daemon IBLOCK_STATE_DIR: refused, nothing printed.
  const withEnv = await iblock(file, ["setup", "rc"], "/srv/iblock-elsewhere");
  assert.equal(withEnv.code, 78, withEnv.stderr);
  assert.equal(withEnv.stdout, "");
  assert.match(withEnv.stderr, /IBLOCK_STATE_DIR is set.*put state_dir = "\/srv\/iblock-elsewhere" in the config file/);
  const bad = await iblock(file, ["setup", "windows"]);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /unknown target "windows"/);
});

/** systemd-analyze verify on the unit files in `dir`: its lines about them, less what this host lacks. */
async function verifyUnits(dir: string): Promise<{ code: number | null; problems: string[]; stderr: string }> {
  const v = await run(["systemd-analyze", "verify", "--man=no", join(dir, "iblock.service"), join(dir, "iblock.socket")], { check: false });
  const problems = `${v.stdout}${v.stderr}`
    .split("\n")
    // No bus here (systemd is not PID 1), and no nftables.service unit named in After=.
    .filter((l) => /iblock/.test(l) && !/Failed to (connect|open).*bus|No such file or directory.*nftables/i.test(l));
  return { code: v.code, problems, stderr: v.stderr };
}

test("setup systemd: the units name the iblock that printed them, and systemd-analyze verify accepts them as they are", async (t) => {
  const analyze = await run(["systemd-analyze", "--version"], { check: false }).catch(() => undefined);
  if (!analyze || analyze.code !== 0) {
    t.skip("systemd-analyze is not installed");
    return;
  }
  for (const values of [{}, { listen: "direct", trap_ports: [23, 445], listen_addresses: ["192.0.2.1", "2001:db8::1"] }]) {
    const { file, dir } = await configFile(t, values);
    const stateDir = join(dir, "elsewhere");
    for (const target of ["systemd", "systemd-socket"]) {
      // With IBLOCK_STATE_DIR, as an admin who keeps the state elsewhere would run it.
      const r = await iblock(file, ["setup", target], stateDir);
      assert.equal(r.code, 0, r.stderr);
      await writeFile(join(dir, target === "systemd" ? "iblock.service" : "iblock.socket"), r.stdout);
    }
    const v = await verifyUnits(dir);
    assert.deepEqual(v.problems, [], `systemd-analyze verify:\n${v.stderr}`);
    assert.equal(v.code, 0, v.stderr);
    const svc = await readFile(join(dir, "iblock.service"), "utf8");
    assert.deepEqual(unitCommand(svc), { argv: [CLI_JS, "run", "-c", file], env: { IBLOCK_STATE_DIR: stateDir } }, svc);
    assert.match(svc, new RegExp(`^ReadWritePaths=${stateDir}$`, "m"));
    assert.match(svc, /^Requires=iblock\.socket$/m);
    for (const key of ["CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure"]) {
      assert.ok(svc.includes(key), key);
    }
  }
  // The old fixed path, where npm on Debian installs nothing: verify refuses it (the test above can fail).
  const { file, dir } = await configFile(t, {});
  await writeFile(join(dir, "iblock.service"), (await iblock(file, ["setup", "systemd"])).stdout.replace(CLI_JS, "/nonexistent/iblock"));
  await writeFile(join(dir, "iblock.socket"), (await iblock(file, ["setup", "systemd-socket"])).stdout);
  const old = await verifyUnits(dir);
  assert.ok(old.problems.some((l) => /is not executable/.test(l)), old.stderr);
});

test("setup systemd: the hardened unit scores 2.0 or less in systemd-analyze security", async (t) => {
  const analyze = await run(["systemd-analyze", "--version"], { check: false }).catch(() => undefined);
  if (!analyze || analyze.code !== 0) {
    t.skip("systemd-analyze is not installed");
    return;
  }
  for (const values of [{}, { group: "daemon" }]) {
    const { file, dir } = await configFile(t, values);
    const unit = join(dir, "iblock.service");
    await writeFile(unit, (await iblock(file, ["setup", "systemd"])).stdout);
    const r = await run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit], { check: false });
    const score = Number(/Overall exposure level for iblock\.service: ([\d.]+)/.exec(r.stdout)?.[1]);
    assert.ok(score <= 2.0, `exposure ${score} for ${JSON.stringify(values)}, want 2.0 or less:\n${r.stdout}${r.stderr}`);
  }
});

/** The unit's ExecStart argv and Environment= variables. */
function unitCommand(unit: string): { argv: string[]; env: Record<string, string> } {
  const argv = (/^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "").split(" ");
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([^=\n]+)=(.*)$/gm)) env[m[1] ?? ""] = m[2] ?? "";
  return { argv, env };
}

test("setup systemd: the unit starts the daemon with the config it was made from, so the CLI reaches it", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const { file, dir } = await configFile(t, { firewall: "none" });
  const stateDir = join(dir, "state");
  const unit = (await iblock(file, ["setup", "systemd"])).stdout;
  const { argv, env } = unitCommand(unit);
  assert.deepEqual(argv, [CLI_JS, "run", "-c", file], unit);
  assert.deepEqual(env, {}, "nothing in the environment overrides the config");
  assert.match(unit, new RegExp(`^ReadWritePaths=${stateDir}$`, "m"));
  const { file: varLib } = await configFile(t, { state_dir: "/var/lib/iblock-test" });
  assert.match((await iblock(varLib, ["setup", "systemd"])).stdout, /^StateDirectory=iblock-test$/m);

  // Run it as systemd would (its ExecStart, its environment and nothing else of ours), then ask with the CLI.
  const ns = uniqueName("unit");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  const daemon = spawnIn(ns, [process.execPath, CLI_JS, ...argv.slice(1)], { env: { PATH: process.env.PATH ?? "", ...env } });
  t.after(() => daemon.stop("SIGTERM", 5000));
  await daemon.waitForLine(/\bready\b/, 20_000);
  const ban = await run(["ip", "netns", "exec", ns, process.execPath, CLI_JS, "ban", "203.0.113.7", "-c", file], { check: false });
  assert.equal(ban.code, 0, ban.stderr);
  await daemon.waitForLine(/blocking 203\.0\.113\.7/, 5000);
});

test("munin and export show the bans in force, read from the store", async (t) => {
  const { file } = await configFile(t, { firewall: "none" });
  // No store yet: munin's "unknown", not 0 bans.
  const before = await iblock(file, ["munin"]);
  assert.equal(before.stdout, "a1.value U\n");
  assert.equal(before.code, 66, before.stderr);
  for (const a of ["203.0.113.7", "198.51.100.0/24", "2001:db8:4::1"]) {
    const r = await iblock(file, ["ban", a]);
    assert.equal(r.code, 0, r.stderr);
  }
  await iblock(file, ["unban", "203.0.113.7"]);
  const config = await iblock(file, ["munin", "config"]);
  assert.match(config.stdout, /^graph_title Banned IP absolute number$/m);
  assert.match(config.stdout, /^graph_vlabel \w+$/m);
  assert.match(config.stdout, /^a1\.label \w+$/m);
  assert.equal((await iblock(file, ["munin"])).stdout, "a1.value 2\n");
  const txt = await iblock(file, ["export"]);
  assert.deepEqual(txt.stdout.trim().split("\n").sort(), ["198.51.100.0/24", "2001:db8:4::/64"]);
  const json = JSON.parse((await iblock(file, ["export", "--format", "json"])).stdout) as { prefix: string }[];
  assert.deepEqual(json.map((b) => b.prefix).sort(), ["198.51.100.0/24", "2001:db8:4::/64"]);
  assert.equal((await iblock(file, ["export", "--format", "csv"])).code, 64);
});
