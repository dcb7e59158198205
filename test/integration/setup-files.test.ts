// `iblock setup rc` and `iblock setup nftables` (issue 10, bug 6): the rc.d
// script lets rcctl reload (SIGHUP works), and a saved nftables file does not
// carry the addresses the host has today.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "smol-toml";
import { CLI_JS, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";

async function configFile(t: Parameters<typeof tempDir>[0], values: Record<string, unknown> = {}): Promise<string> {
  const dir = await tempDir(t);
  const file = join(dir, "iblock.toml");
  await writeFile(file, stringify({ state_dir: join(dir, "state"), ...values }));
  return file;
}

test("setup rc: reload is left to rc.subr (SIGHUP), not turned off", async (t) => {
  requireBuild();
  const r = await run([process.execPath, CLI_JS, "setup", "rc", "-c", await configFile(t)], { check: false });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /rc_reload=NO/);
  assert.match(r.stdout, /SIGHUP/);
});

test("setup nftables: the host's own addresses are left to the daemon, and the file says so", async (t) => {
  if (!requireRoot(t)) return;
  requireBuild();
  const ns = uniqueName("setupf");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  await run(["ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
  await run(["ip", "-n", ns, "addr", "add", "192.0.2.77/32", "dev", "d0"]);
  await run(["ip", "-n", ns, "link", "set", "d0", "up"]);
  const file = await configFile(t, { allow: ["198.51.100.0/24"] });
  const r = await run(["ip", "netns", "exec", ns, process.execPath, CLI_JS, "setup", "nftables", "-c", file], { check: false });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /192\.0\.2\.77/, "no address of this host in the file");
  assert.match(r.stdout, /198\.51\.100\.0\/24/, "the configured allow list is there");
  assert.match(r.stdout, /^# .*allow_self.*\n# daemon adds them when it starts/m);
});
