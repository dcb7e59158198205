// The read-only commands (issue 28, point 3): a store that cannot be read is an
// error naming the path (exit 77 without the rights, 66 when it is not there),
// never an empty list, zeros or munin's 0; and reading never makes a store.
import assert from "node:assert/strict";
import { chmod, mkdir, readdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "smol-toml";
import { CLI_JS, EX, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { run, type RunResult } from "../support/proc.js";

const READERS = [["list"], ["list", "--json"], ["export"], ["top", "--once"], ["stats"], ["munin"], ["show", "192.0.2.9"]];

async function setup(t: Parameters<typeof tempDir>[0], stateDir: (dir: string) => string): Promise<{ dir: string; config: string; state: string }> {
  requireBuild();
  const dir = await tempDir(t);
  // Whoever runs the command may read the config and enter this directory, as on a real host.
  await chmod(dir, 0o755);
  const state = stateDir(dir);
  const config = join(dir, "iblock.toml");
  await writeFile(config, stringify({ state_dir: state, firewall: "none" }), { mode: 0o644 });
  return { dir, config, state };
}

const iblock = (config: string, args: readonly string[], as: readonly string[] = []): Promise<RunResult> =>
  run([...as, process.execPath, CLI_JS, ...args, "-c", config], { check: false, env: { PATH: process.env.PATH }, timeoutMs: 20_000 });

function assertRefused(r: RunResult, args: readonly string[], code: number, path: string): void {
  const what = `iblock ${args.join(" ")}: ${r.stdout}${r.stderr}`;
  assert.equal(r.code, code, what);
  assert.ok(r.stderr.includes(path), `names ${path}: ${what}`);
  // munin's "unknown", a gap in the graph; anything else prints nothing a script could take for a result.
  assert.equal(r.stdout, args[0] === "munin" ? "a1.value U\n" : "", what);
}

void test("as an unprivileged user against a 0750 root state dir: exit 77 naming the store, munin U", async (t) => {
  if (!requireRoot(t, ["setpriv"])) return;
  const { config, state } = await setup(t, (dir) => join(dir, "state"));
  const ban = await iblock(config, ["ban", "192.0.2.9"]);
  assert.equal(ban.code, EX.OK, ban.stderr);
  await chmod(state, 0o750);
  const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  for (const args of READERS) {
    const r = await iblock(config, args, nobody);
    // show and stats ask the daemon first; its socket's refusal names the state dir too.
    assertRefused(r, args, EX.NOPERM, state);
  }
  // Root reads the same store: it was there all along.
  assert.equal((await iblock(config, ["munin"])).stdout, "a1.value 1\n");
});

void test("a state dir that does not exist: exit 66 naming it, munin U, and nothing made", async (t) => {
  if (!requireRoot(t)) return;
  const { dir, config, state } = await setup(t, (d) => join(d, "mistyped"));
  for (const args of READERS) assertRefused(await iblock(config, args), args, EX.NOINPUT, state);
  assert.equal(existsSync(state), false, "no state dir made by a read");
  assert.deepEqual((await readdir(dir)).sort(), ["iblock.toml"]);
});

void test("a state dir with no store in it: exit 66 naming the store, and no store made", async (t) => {
  if (!requireRoot(t)) return;
  const { config, state } = await setup(t, (d) => join(d, "state"));
  await mkdir(state, { mode: 0o750 });
  for (const args of READERS) assertRefused(await iblock(config, args), args, EX.NOINPUT, join(state, "iblock.sqlite"));
  assert.deepEqual(await readdir(state), [], "no store made by a read");
});

void test("a reader of `group` when no iblock holds the store open (inetd, between hits): exit 77 saying why, munin U", async (t) => {
  if (!requireRoot(t, ["setpriv"])) return;
  const { dir, state } = await setup(t, (d) => join(d, "state"));
  const config = join(dir, "group.toml");
  await writeFile(config, stringify({ state_dir: state, firewall: "none", group: "nogroup" }), { mode: 0o644 });
  assert.equal((await iblock(config, ["ban", "192.0.2.9"])).code, EX.OK);
  const member = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  for (const args of [["munin"], ["list"]]) {
    const r = await iblock(config, args, member);
    assertRefused(r, args, EX.NOPERM, state);
    assert.match(r.stderr, /-shm, which needs write access to state_dir/);
  }
});
