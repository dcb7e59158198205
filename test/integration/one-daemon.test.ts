// One daemon per state dir: a lock taken before anything else. A second `iblock
// run` says who runs and exits 75; the CLI never works beside a daemon that holds
// the state dir; kill -9 leaves no stale lock behind.
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped } from "../support/checks.js";
import { bannedElements } from "../support/nft.js";
import { CLI_JS, createInstance, startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, exec, spawnIn } from "../support/netns.js";
import { sleep } from "../support/proc.js";
import { startOneShotRunner } from "../support/one-shot.js";
import { startSyslog } from "../support/syslog.js";

const EX_TEMPFAIL = 75;
const ONE_SHOT_PORT = 2601;

test("a second iblock run on the same state dir exits 75 naming the first, which goes on banning; kill -9 frees the state dir", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const first = await startDaemon(t, topo.host);
  const second = await first.instance.start({ waitReady: false });
  const exit = await second.proc.exited;
  assert.equal(exit.code, EX_TEMPFAIL, second.tail());
  assert.match(second.proc.tail(), new RegExp(`iblock is already running \\(pid ${first.proc.pid}\\)`));
  assert.doesNotMatch(second.proc.tail(), /trap port \d+ skipped/);

  await assertTrapHit(topo, ADDR.scannerV4, 23, first);
  await waitDropped(topo, ADDR.scannerV4, first);
  const listed = await first.instance.cli("list");
  assert.equal(listed.code, 0, listed.stderr);
  assert.doesNotMatch(listed.stderr, /trap port/);

  await first.kill9();
  const third = await first.instance.start();
  assert.ok(third.running, third.tail());
});

test("while a daemon holds the state dir the CLI waits for its control socket and never works beside it", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);
  // A daemon that holds the lock and has no control socket: one that is still starting.
  await rm(join(d.instance.stateDir, "control.sock"));
  const cli = spawnIn(topo.host, [process.execPath, CLI_JS, "ban", "203.0.113.9", "-c", d.instance.configPath], { env: d.instance.env() });
  t.after(() => cli.stop("SIGKILL", 5000));
  await cli.waitForLine(new RegExp(`the daemon \\(pid ${d.proc.pid}\\) is starting`), 10_000);
  await sleep(1000);
  assert.ok(cli.running, `the CLI must wait, not work on the store beside the daemon:\n${cli.tail()}`);
  // The daemon goes away: the state dir is free, the CLI does the ban itself.
  await d.kill9();
  const exit = await cli.exited;
  assert.equal(exit.code, 0, cli.tail());
  assert.match(cli.tail(), /banned 203\.0\.113\.9/);
  assert.doesNotMatch(cli.tail(), /trap port \d+ skipped/);
});

test("iblock ban with no daemon says nothing about the services on trap ports", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const ftp = topo.spawnNode(topo.host, `require("node:net").createServer((s) => s.end()).listen(21, "0.0.0.0", () => console.log("listening"));`);
  t.after(() => ftp.stop("SIGTERM", 5000));
  await ftp.waitForLine(/listening/, 5000);
  const inst = await createInstance(t, topo.host);
  const r = await inst.cli("ban", ["203.0.113.9"]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /trap port/, r.stderr);
  // Its store is made as the daemon makes it, whatever the umask it was run with.
  assert.equal(statSync(inst.stateDir).mode & 0o777, 0o750);
  assert.equal(statSync(join(inst.stateDir, "iblock.sqlite")).mode & 0o777, 0o640);
  // ... and still keeps its kernel route off the served port: the service answers.
  const probe = await topo.probe({ src: ADDR.otherV4, dst: ADDR.hostV4, port: 21, timeoutMs: 2000 });
  assert.equal(probe, "connected");
});

test("one iblock per host's firewall: a daemon or CLI of another state dir exits 75 naming the owner, whose bans stay; once it stops, the other starts", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const first = await startDaemon(t, topo.host);
  await assertTrapHit(topo, ADDR.scannerV4, 23, first);
  await waitDropped(topo, ADDR.scannerV4, first);
  const before = await bannedElements(topo.host);
  assert.ok(before.has(ADDR.scannerV4), [...before].join(", "));

  const other = await createInstance(t, topo.host);
  const owner = new RegExp(`belongs to another iblock \\(pid ${first.proc.pid}, state_dir ${first.instance.stateDir.replace(/[.]/g, "\\.")}\\)`);
  const second = await other.start({ waitReady: false });
  const exit = await second.proc.exited;
  assert.equal(exit.code, EX_TEMPFAIL, second.tail());
  assert.match(second.tail(), owner);
  // The one-shot CLI of the other state dir changes nothing either.
  const ban = await other.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, EX_TEMPFAIL, ban.stderr);
  assert.match(ban.stderr, owner);
  // Nor does its teardown take the first daemon's table away.
  const teardown = await other.cli("teardown", []);
  assert.equal(teardown.code, EX_TEMPFAIL, teardown.stderr);
  assert.match(teardown.stderr, owner);
  assert.deepEqual(await bannedElements(topo.host), before, "the first daemon's sets are as they were");
  await assertDropped(topo, ADDR.scannerV4, first, "the first daemon's ban");
  assert.ok(first.running, first.tail());
  assert.deepEqual(await other.list(), [], "the second store adopted nothing");

  assert.deepEqual(await first.stop(), { code: 0, signal: null }, first.tail());
  const third = await other.start();
  assert.ok(third.running, third.tail());
  await third.waitForLine(new RegExp(`last used by the iblock with state_dir ${first.instance.stateDir.replace(/[.]/g, "\\.")}, which no longer runs`), 1000);
  // And now the first is the one turned away.
  const again = await first.instance.start({ waitReady: false });
  assert.equal((await again.proc.exited).code, EX_TEMPFAIL, again.tail());
  assert.match(again.tail(), new RegExp(`pid ${third.proc.pid}, state_dir ${other.stateDir.replace(/[.]/g, "\\.")}`));
});

test("one iblock per host's firewall holds against an owner of another user: its table is never taken while it runs", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  // An iblock of another user (the generated unit's DynamicUser): its state dir is its own, 0750,
  // and it holds the lock there. Played by a process of nobody's holding that lock.
  const theirs = mkdtempSync(join(tmpdir(), "iblock-theirs-"));
  t.after(() => rmSync(theirs, { recursive: true, force: true }));
  chmodSync(theirs, 0o750);
  chownSync(theirs, 65534, 65534);
  const holder = spawnIn(topo.host, [
    "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e",
    `const db = new (require("better-sqlite3"))(process.argv[1] + "/iblock.lock"); db.exec("BEGIN EXCLUSIVE"); console.log("locked"); setInterval(() => {}, 1e6);`,
    theirs,
  ]);
  t.after(() => holder.stop("SIGKILL", 5000));
  await holder.waitForLine(/locked/, 10_000);
  // Its mark in the table, as that iblock writes it.
  const mark = `table inet iblock {}\nadd set inet iblock owner { type mark; size 1; }\nadd element inet iblock owner { ${holder.pid} comment "${theirs}" }\n`;
  assert.equal((await exec(topo.host, ["nft", "-f", "-"], { input: mark })).code, 0);

  const ours = await createInstance(t, topo.host);
  const ban = await ours.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, EX_TEMPFAIL, ban.stderr);
  assert.match(ban.stderr, new RegExp(`belongs to another iblock \\(pid ${holder.pid}, state_dir ${theirs.replace(/[.]/g, "\\.")}\\)`));
  const teardown = await ours.cli("teardown", []);
  assert.equal(teardown.code, EX_TEMPFAIL, teardown.stderr);
  assert.equal((await exec(topo.host, ["nft", "list", "table", "inet", "iblock"])).code, 0, "the table is still there");
});

test("one iblock per host's firewall: the inetd one-shot of another state dir exits 75 naming the daemon, and changes nothing", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "rsyslogd"])) return;
  const topo = await createTopology(t);
  const syslog = await startSyslog(t, topo.host);
  const first = await startDaemon(t, topo.host);
  const before = await bannedElements(topo.host);
  const other = await createInstance(t, topo.host, { syslog_socket: syslog.socket });
  const inetd = await startOneShotRunner(topo, topo.host, other.configPath, ONE_SHOT_PORT, other.env());

  const r = await topo.probe({ src: ADDR.scannerV4, dst: ADDR.hostV4, port: ONE_SHOT_PORT, timeoutMs: 2000 });
  assert.ok(r === "connected" || r === "reset", `the one-shot's port from ${ADDR.scannerV4}: ${r}`);
  assert.equal(await inetd.waitForLine(/^exit \d+$/, 15_000), `exit ${EX_TEMPFAIL}`, inetd.tail());
  const line = await syslog.waitFor(/192\.0\.2\.2/);
  const owner = `belongs to another iblock (pid ${first.proc.pid}, state_dir ${first.instance.stateDir})`;
  assert.ok(line.startsWith("daemon.err ") && line.includes(`not blocking 192.0.2.2: the nftables table inet iblock ${owner}`), line);
  assert.deepEqual(await bannedElements(topo.host), before, "the daemon's sets are as they were");
  await assertServed(topo, ADDR.scannerV4, first, "not banned in the daemon's table");
  assert.ok(!existsSync(join(other.stateDir, "iblock.sqlite")), "nothing recorded in the other state dir");
  assert.ok(first.running, first.tail());
});
