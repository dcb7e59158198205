// What a new user meets (issue 10, the CLI): a typo is a usage error with a
// suggestion, `list` has a header and each ban's end, `--version`, `-t -c FILE`
// is a usage error, and the firewall lines say what was done.
import assert from "node:assert/strict";
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { plantedStoreLink } from "../support/planted.js";
import { CLI_JS, createInstance, EX, REPO_ROOT, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology } from "../support/netns.js";
import { deleteTable } from "../support/nft.js";
import { logMark, reload } from "../support/lifecycle.js";
import { run } from "../support/proc.js";

const cli = (args: string[]): ReturnType<typeof run> => {
  requireBuild();
  // Standard input is not a TCP socket here: no inetd mode.
  return run([process.execPath, CLI_JS, ...args], { check: false, env: { ...process.env, IBLOCK_STATE_DIR: "/nonexistent-iblock-test" } });
};

test("a typo is a usage error that suggests the command; --version; -t -c FILE is a usage error", async () => {
  const typo = await cli(["lsit"]);
  assert.equal(typo.code, EX.USAGE, typo.stderr);
  assert.match(typo.stderr, /unknown command 'lsit' \(did you mean list\?\)/);
  const other = await cli(["frobnicate"]);
  assert.equal(other.code, EX.USAGE);
  assert.match(other.stderr, /unknown command 'frobnicate' \(commands: run, ban, unban, list/);

  const help = await cli(["help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: iblock /);
  assert.match(help.stdout, /\bban \[options\] <address>/);

  const version = await cli(["--version"]);
  assert.equal(version.code, 0);
  const pkg = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, "utf8")) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);

  const t = await cli(["-t", "-c", "/dev/null"]);
  assert.equal(t.code, EX.USAGE, t.stdout + t.stderr);
  assert.match(t.stderr, /expected a table name, got the option "-c"/);
});

test("list prints aligned columns, local time and how long each ban has left; --json as before; a restart says how many bans it put back; SIGHUP repairs nothing it need not", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  // A zone a half hour off UTC: local time cannot pass for UTC by chance.
  inst.extraEnv = { TZ: "Asia/Kolkata" };
  const first = await inst.start();
  assert.equal((await inst.cli("ban", ["192.0.2.3", "--time", "2h"])).code, 0);
  assert.equal((await inst.cli("ban", ["198.51.100.0/24", "--time", "permanent"])).code, 0);
  for (const [args, zone] of [[[], "+0530"], [["--utc"], "+0000"]] as const) {
    const list = await inst.cli("list", [...args]);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^PREFIX {5,}SINCE {5,}EXPIRES {5,}EXPIRES IN {2}PORT {2}HITS {2}SOURCE {2}REASON$/);
    assert.ok(!list.stdout.includes("\t"), list.stdout);
    // Each column starts where its title does.
    for (const l of lines.slice(1)) assert.equal(l.search(/ \d{4}-\d\d-\d\d /) + 1, lines[0]?.indexOf("SINCE"), list.stdout);
    const cells = (prefix: string): string[] => lines.find((l) => l.startsWith(`${prefix} `))?.split(/ {2,}/) ?? [];
    const [, since, expires, left, port, hits, source] = cells("192.0.2.3/32");
    assert.match(since ?? "", new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\${zone}$`), list.stdout);
    assert.ok(Math.abs(Date.parse(expires ?? "") - Date.now() - 2 * 3_600_000) < 60_000, `expires in about 2 h: ${expires}`);
    assert.match(left ?? "", /^(1h 5\dm|2h 0m)$/, list.stdout);
    assert.deepEqual([port, hits, source], ["-", "0", "cli"], "a ban by an admin counts no hit");
    assert.deepEqual(cells("198.51.100.0/24").slice(2, 4), ["permanent", "permanent"], list.stdout);
  }
  // --json is what it was: ISO 8601 in UTC to the millisecond, the same fields.
  const json = JSON.parse((await inst.cli("list", ["--json"])).stdout) as Record<string, unknown>[];
  const v4 = json.find((b) => b.prefix === "192.0.2.3/32");
  assert.deepEqual(Object.keys(v4 ?? {}), ["prefix", "first_seen", "last_seen", "hits", "port", "source", "reason", "expires"]);
  assert.match(String(v4?.first_seen), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(String(v4?.expires), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual([v4?.hits, v4?.port, v4?.source, v4?.reason], [0, null, "cli", null]);
  assert.equal(json.find((b) => b.prefix === "198.51.100.0/24")?.expires, null);

  // Nothing to repair: SIGHUP checks, and says so without "repaired".
  const from = logMark(first);
  await reload(first);
  await first.waitForLine(/checked the firewall \(SIGHUP\): in place, nothing to repair/, 5000, from);
  assert.ok(!first.lines.slice(from).some((l) => l.includes("repaired the firewall")), first.tail());

  await first.stop();
  await deleteTable(topo.host);
  const second = await inst.start();
  const ready = await second.waitForLine(/\bready\b/, 10_000);
  assert.match(ready, /2 ban\(s\) in force, 2 put back into the firewall/);
});

test("iblock ban with no daemon never opens a store planted as a link: exit 78, the link's target untouched", async (t) => {
  requireBuild();
  const { stateDir, target, config, env } = await plantedStoreLink(await tempDir(t));
  const r = await run([process.execPath, CLI_JS, "ban", "192.0.2.9", "-c", config], { check: false, env });
  assert.equal(r.code, EX.CONFIG, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`${join(stateDir, "iblock.sqlite").replace(/[.]/g, "\\.")} is a symbolic link: remove it`));
  assert.equal(readFileSync(target, "utf8"), "", "the target is not made a store");
  assert.ok(lstatSync(join(stateDir, "iblock.sqlite")).isSymbolicLink());
});
