// Files and permissions: the state dir is 0750 and the store 0640, in `group`
// when one is set; a state dir others could write, or another user owns, is
// refused (exit 78) before anything is touched, as sshd's StrictModes would.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, chown, lchown, mkdir, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createInstance, EX, tempDir, type Daemon, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";

// An unprivileged user who owns a parent of state_dir.
const NOBODY = 65534;

const mode = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8);

async function netns(t: Parameters<typeof createInstance>[0]): Promise<string> {
  const ns = uniqueName("state");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  return ns;
}

test("the state dir is 0750 and the store's files 0640, given to `group`; the lock 0600", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const gid = Number((await run(["getent", "group", "daemon"])).stdout.split(":")[2]);
  const inst = await createInstance(t, await netns(t), { firewall: "none", group: "daemon" });
  const d = await inst.start();
  assert.equal((await inst.cli("ban", ["203.0.113.7"])).code, 0);
  assert.equal(await mode(inst.stateDir), "750");
  assert.equal((await stat(inst.stateDir)).gid, gid);
  for (const name of ["iblock.sqlite", "iblock.sqlite-wal", "iblock.sqlite-shm"]) {
    const file = join(inst.stateDir, name);
    assert.equal(await mode(file), "640", name);
    assert.equal((await stat(file)).gid, gid, name);
  }
  assert.equal(await mode(join(inst.stateDir, "control.sock")), "600");
  // The lock is no reader's: one of `group` holding a read on it would keep the daemon from starting.
  assert.equal(await mode(join(inst.stateDir, "iblock.lock")), "600");
  assert.notEqual((await stat(join(inst.stateDir, "iblock.lock"))).gid, gid);
  await d.stop();
});

async function refused(inst: Instance, re: RegExp): Promise<void> {
  const before = await readdir(inst.stateDir);
  const d = await inst.start({ waitReady: false });
  const exit = await d.proc.exited;
  assert.equal(exit.code, EX.CONFIG, d.tail());
  assert.match(d.proc.tail(), re);
  assert.deepEqual(await readdir(inst.stateDir), before, "nothing made in a state dir that is refused");
}

test("a state dir writable by its group or by everyone, or owned by another user, is refused with exit 78", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const inst = await createInstance(t, await netns(t), { firewall: "none" });
  await chmod(inst.stateDir, 0o770);
  await refused(inst, /state_dir \S+ \(mode 0770\) is writable by its group, .*chmod go-w/);
  await chmod(inst.stateDir, 0o757);
  await refused(inst, /is writable by everyone/);
  await chmod(inst.stateDir, 0o750);
  await chown(inst.stateDir, 1, 1);
  await refused(inst, /state_dir \S+ is owned by uid 1, not by iblock's user \(uid 0\) or root/);
  await chown(inst.stateDir, 0, 0);
  await inst.writeConfig({ firewall: "none", group: "no-such-group" });
  await refused(inst, /key "group": value "no-such-group" is not a group on this host/);
  await inst.writeConfig({ firewall: "none" });
  const d = await inst.start();
  assert.ok(d.running);
  await d.stop();
});

// A victim directory's mode and contents, to show that a refused start touched neither.
async function snapshotOf(dir: string): Promise<{ mode: string; entries: string[] }> {
  return { mode: await mode(dir), entries: (await readdir(dir)).sort() };
}

/** Starts the daemon and expects exit 78; one that starts after all (today's code did) fails the test, not hangs it. */
async function refusedStart(inst: Instance): Promise<Daemon> {
  const d = await inst.start({ waitReady: false });
  const ready = await d.waitForLine(/\bready\b/, 20_000).then(
    () => true,
    () => false,
  );
  assert.equal(ready, false, `the daemon started:\n${d.tail()}`);
  assert.equal((await d.proc.exited).code, EX.CONFIG, d.tail());
  return d;
}

test("a state dir swapped for a link by the owner of its parent is refused, and the linked directory is left alone", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const inst = await createInstance(t, await netns(t), { firewall: "none" });
  const victim = await tempDir(t, "iblock-victim-");
  await chmod(victim, 0o755);
  await writeFile(join(victim, "keep"), "");
  const before = await snapshotOf(victim);
  // The parent belongs to an unprivileged user, who replaces state_dir by a link to the victim.
  await chmod(inst.dir, 0o755);
  await chown(inst.dir, NOBODY, NOBODY);
  await rm(inst.stateDir, { recursive: true });
  await symlink(victim, inst.stateDir);
  await lchown(inst.stateDir, NOBODY, NOBODY);

  const d = await refusedStart(inst);
  assert.match(d.proc.tail(), new RegExp(`its parent ${inst.dir} is owned by uid ${NOBODY}, not by root or iblock's user`));
  assert.deepEqual(await snapshotOf(victim), before, "the linked directory is neither chmodded nor given a store");
  // The CLI with no daemon running opens the store itself: refused the same way.
  const ban = await inst.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, EX.CONFIG, ban.stderr);
  assert.match(ban.stderr, /its parent \S+ is owned by uid 65534/);
  assert.deepEqual(await snapshotOf(victim), before, "no store made by the CLI either");
});

test("a state dir that is another user's link, or under a parent others may write, is refused; root's link is followed", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const inst = await createInstance(t, await netns(t), { firewall: "none" });
  const victim = await tempDir(t, "iblock-victim-");
  await chmod(victim, 0o755);
  const before = await snapshotOf(victim);
  await rm(inst.stateDir, { recursive: true });
  await symlink(victim, inst.stateDir);
  await lchown(inst.stateDir, NOBODY, NOBODY);
  let d = await refusedStart(inst);
  assert.match(d.proc.tail(), new RegExp(`state_dir \\S+ is a symbolic link owned by uid ${NOBODY}, not by root or iblock's user`));
  assert.deepEqual(await snapshotOf(victim), before);

  await rm(inst.stateDir);
  await chmod(inst.dir, 0o775);
  d = await refusedStart(inst);
  assert.match(d.proc.tail(), new RegExp(`its parent ${inst.dir} \\(mode 0775\\) is writable by others than its owner`));
  assert.equal(existsSync(inst.stateDir), false, "nothing made under a parent others may write");

  // As systemd's DynamicUser lays it out: /var/lib/NAME a link of root's to /var/lib/private/NAME.
  // (The test's own parents pass: /tmp is root's and sticky, which is why it is allowed.)
  await chmod(inst.dir, 0o700);
  const real = join(inst.dir, "private-state");
  await symlink(real, inst.stateDir);
  await mkdir(real, { mode: 0o755 });
  d = await inst.start();
  assert.ok(d.running);
  assert.equal(await mode(real), "750", "the directory the link leads to is made the state dir");
  assert.ok(existsSync(join(real, "iblock.sqlite")));
  await d.stop();
});

test("the CLI as root refuses a state dir another user owns or others may write, and a store that is a link; the link's target is not made", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const inst = await createInstance(t, await netns(t), { firewall: "none" });
  const target = join(await tempDir(t, "iblock-target-"), "x");
  // Before: the root CLI made the store wherever the daemon's user pointed it.
  await symlink(target, join(inst.stateDir, "iblock.sqlite"));
  let ban = await inst.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, EX.CONFIG, ban.stderr);
  assert.match(ban.stderr, /iblock\.sqlite is a symbolic link: remove it/);
  assert.equal(existsSync(target), false, "nothing made where the link leads");
  await rm(join(inst.stateDir, "iblock.sqlite"));

  await chown(inst.stateDir, NOBODY, NOBODY);
  await chmod(inst.stateDir, 0o777);
  ban = await inst.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, EX.CONFIG, ban.stderr);
  assert.match(ban.stderr, /state_dir \S+ is owned by uid 65534, not by iblock's user \(uid 0\) or root/);
  await chown(inst.stateDir, 0, 0);
  ban = await inst.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, EX.CONFIG, ban.stderr);
  assert.match(ban.stderr, /\(mode 0777\) is writable by its group and everyone/);
  assert.deepEqual(await readdir(inst.stateDir), [], "no store made in a refused state dir");
  await chmod(inst.stateDir, 0o750);
  ban = await inst.cli("ban", ["203.0.113.9"]);
  assert.equal(ban.code, 0, ban.stderr);
});

test("a parent that is a root-owned link is followed and its target's parents checked (as /var/run -> /run)", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const inst = await createInstance(t, await netns(t), { firewall: "none" });
  const real = await tempDir(t, "iblock-real-");
  await chmod(real, 0o755);
  const via = join(inst.dir, "via");
  await symlink(real, via);
  inst.extraEnv = { IBLOCK_STATE_DIR: join(via, "state") };
  // Before: the link's own mode (0777) was taken for a parent everyone may write.
  const d = await inst.start();
  assert.ok(existsSync(join(real, "state", "iblock.sqlite")));
  await d.stop();
  // A link of another user's among the parents: they chose where it leads.
  await lchown(via, NOBODY, NOBODY);
  const refusedAt = await refusedStart(inst);
  assert.match(refusedAt.proc.tail(), new RegExp(`its parent ${via} is a symbolic link owned by uid ${NOBODY}, not by root or iblock's user`));
});
