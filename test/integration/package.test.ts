// The Debian package (`npm run package`) as an admin meets it: dpkg -i, the
// installed /usr/sbin/iblock with the installed /etc/iblock.toml banning a
// scanner, then dpkg --purge leaving nothing. This installs on the machine
// itself: it refuses to start where an iblock is installed already, and takes
// the package away again even when it fails. dpkg runs inside the test's host
// namespace, so the maintainer scripts' teardown only ever sees that
// namespace's firewall, never the machine's.
import assert from "node:assert/strict";
import { existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { assertDropped, assertServed, assertTrapHit } from "../support/checks.js";
import { REPO_ROOT, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, addNamespace, createTopology, deleteNamespace, exec, spawnIn } from "../support/netns.js";
import { tableExists } from "../support/nft.js";
import { run, type LineProcess } from "../support/proc.js";

const PROGRAM = "/usr/sbin/iblock";
const UNITS = "/usr/lib/systemd/system";
// What the package makes or owns on the machine; the test refuses to touch a machine that has any.
const PACKAGE_PLACES = [PROGRAM, "/usr/lib/iblock", "/etc/iblock.toml", "/var/lib/iblock", "/var/lib/private/iblock", `${UNITS}/iblock.service`];

/** The environment an admin's shell has: none of the test runner's IBLOCK_* settings. */
function adminEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("IBLOCK_")));
}

async function installed(): Promise<boolean> {
  const r = await run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "iblock"], { check: false });
  return r.code === 0 && r.stdout.trim() !== "not-installed" && r.stdout.trim() !== "";
}

/** Whatever happens in the test: the daemon killed, the package purged (in a namespace of its own), the state dir gone. */
function undoAfter(t: TestContext, daemon: () => LineProcess | undefined): void {
  t.after(async () => {
    await daemon()?.stop("SIGKILL", 5000);
    if (await installed()) {
      const ns = await addNamespace("purge");
      try {
        await exec(ns, ["dpkg", "--purge", "iblock"], { check: false, timeoutMs: 120_000 });
      } finally {
        await deleteNamespace(ns);
      }
    }
    await run(["rm", "-rf", "/var/lib/iblock", "/var/lib/private/iblock"], { check: false });
  });
}

/** systemd-analyze verify's lines about the installed units, less what this host lacks (as in setup.test.ts). */
async function verifyUnits(): Promise<{ code: number | null; problems: string[]; output: string }> {
  const v = await run(["systemd-analyze", "verify", "--man=no", `${UNITS}/iblock.service`, `${UNITS}/iblock.socket`], { check: false });
  const output = `${v.stdout}${v.stderr}`;
  // No bus here (systemd is not PID 1), and no nftables.service unit named in After=.
  const problems = output.split("\n").filter((l) => /iblock/.test(l) && !/Failed to (connect|open).*bus|No such file or directory.*nftables/i.test(l));
  return { code: v.code, problems, output };
}

test("package: dpkg -i bans nothing, the installed iblock drops a scanner, removal is refused while it runs, dpkg --purge leaves no file, table or state dir", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "conntrack", "dpkg-deb", "dpkg-shlibdeps", "strip", "lintian", "man", "systemd-analyze"])) return;
  requireBuild();
  const present = PACKAGE_PLACES.filter((p) => existsSync(p));
  assert.deepEqual(present, [], "an iblock is installed on this machine already: the package test would replace it");
  assert.equal(await installed(), false, "the iblock package is installed on this machine already");

  const out = await tempDir(t, "iblock-deb-");
  const built = await run([process.execPath, "--import", "tsx", "tools/package-deb.mjs", out], { cwd: REPO_ROOT, timeoutMs: 180_000 });
  const deb = built.stdout.trim();
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
  assert.match(deb, new RegExp(`/iblock_${version.replaceAll(".", "\\.")}_[a-z0-9]+\\.deb$`));
  // lintian reads the .deb while the rest goes on (it takes most of a minute).
  const lintian = run(["lintian", deb], { check: false, timeoutMs: 300_000 });

  const topo = await createTopology(t);
  // Set once the daemon starts, for the undo to kill it.
  const running: { daemon?: LineProcess } = {};
  undoAfter(t, () => running.daemon);

  // Installing bans nothing: no table, no process, no state dir.
  const started = Date.now();
  const install = await exec(topo.host, ["dpkg", "-i", deb], { check: false, timeoutMs: 120_000 });
  const installMs = Date.now() - started;
  assert.equal(install.code, 0, install.stderr);
  // The figures README quotes: the .deb's size, what it installs, how long dpkg -i takes.
  const installedKb = (await exec(topo.host, ["dpkg-deb", "-f", deb, "Installed-Size"])).stdout.trim();
  t.diagnostic(`package ${statSync(deb).size} bytes, Installed-Size ${installedKb} KiB; dpkg -i took ${installMs} ms`);
  assert.equal(await tableExists(topo.host), false, "installing made no firewall table");
  assert.equal(existsSync("/var/lib/iblock"), false, "installing started nothing that made a state dir");
  await assertServed(topo, ADDR.scannerV4, undefined, "installed, not enabled");

  const env = adminEnv();
  const v = await run([PROGRAM, "--version"], { env });
  assert.equal(v.stdout.trim(), version);
  const man = await run(["man", "-w", "iblock"], { env });
  assert.equal(man.stdout.trim(), "/usr/share/man/man8/iblock.8.gz");
  const verified = await verifyUnits();
  assert.deepEqual(verified.problems, [], `systemd-analyze verify:\n${verified.output}`);
  assert.equal(verified.code, 0, verified.output);
  // The shipped units are what the installed iblock prints for the installed config.
  for (const [target, unit] of [["systemd", "iblock.service"], ["systemd-socket", "iblock.socket"]] as const) {
    const printed = await run([PROGRAM, "setup", target], { env });
    assert.equal(readFileSync(join(UNITS, unit), "utf8"), printed.stdout, unit);
  }
  assert.match(readFileSync(join(UNITS, "iblock.service"), "utf8"), /^ExecStart=\/usr\/sbin\/iblock run$/m);

  // The installed program, its installed config (every key at its default), in the host namespace.
  const daemon = spawnIn(topo.host, [PROGRAM, "run"], { env });
  running.daemon = daemon;
  await daemon.waitForLine(/\bready\b/, 30_000);
  await assertTrapHit(topo, ADDR.scannerV4, 23);
  await daemon.waitForLine(/blocking 192\.0\.2\.2 \(port 23\)/, 10_000);
  await assertDropped(topo, ADDR.scannerV4, undefined, "banned by the installed iblock");
  await assertServed(topo, ADDR.otherV4, undefined, "an innocent source");

  // Removal while an iblock runs outside systemd: refused, nothing changes.
  const refused = await exec(topo.host, ["dpkg", "--remove", "iblock"], { check: false, timeoutMs: 120_000 });
  assert.notEqual(refused.code, 0, refused.stdout);
  assert.match(refused.stderr, /iblock is running \(pid \d+\)/);
  assert.equal(await installed(), true, "still installed");
  assert.equal(existsSync(PROGRAM), true);
  await assertDropped(topo, ADDR.scannerV4, undefined, "the ban holds after the refused removal");

  assert.deepEqual(await daemon.stop("SIGTERM", 30_000), { code: 0, signal: null });
  const files = (await run(["dpkg", "-L", "iblock"])).stdout.split("\n").filter((l) => l.startsWith("/") && l !== "/.");
  assert.ok(files.includes(PROGRAM) && files.includes("/etc/iblock.toml"), files.slice(0, 20).join("\n"));
  assert.equal(existsSync("/var/lib/iblock/iblock.sqlite"), true, "the daemon kept its store in the default state dir");

  const purge = await exec(topo.host, ["dpkg", "--purge", "iblock"], { check: false, timeoutMs: 120_000 });
  assert.equal(purge.code, 0, `${purge.stdout}${purge.stderr}`);
  assert.match(purge.stdout, /^removed the nftables table inet iblock/m);
  assert.equal(await tableExists(topo.host), false, "purging took the table away");
  await assertServed(topo, ADDR.scannerV4, undefined, "banned before, passes after the purge");
  assert.equal(await installed(), false);
  for (const dir of ["/var/lib/iblock", "/var/lib/private/iblock"]) assert.equal(existsSync(dir), false, dir);
  // Every path the package had is gone, but the directories other packages share.
  const left: string[] = [];
  for (const f of files) {
    const s = lstatSync(f, { throwIfNoEntry: false });
    if (s === undefined) continue;
    const owner = await run(["dpkg-query", "-S", f], { check: false });
    if (!s.isDirectory() || owner.code !== 0) left.push(f);
  }
  assert.deepEqual(left, [], "left after dpkg --purge");

  const lint = await lintian;
  const report = `${lint.stdout}${lint.stderr}`;
  // In the test log as it is (a diagnostic would fold it into one line).
  process.stdout.write(`# lintian ${deb}:\n${report.replace(/^/gm, "# ")}\n`);
  assert.deepEqual(report.split("\n").filter((l) => l.startsWith("E: ")), [], "lintian errors");
});
