// Files and permissions: the state dir is 0750 and the store 0640, in `group`
// when one is set; a state dir others could write, or another user owns, is
// refused (exit 78) before anything is touched, as sshd's StrictModes would.
import assert from "node:assert/strict";
import { chmod, chown, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createInstance, EX, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";

const mode = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8);

async function netns(t: Parameters<typeof createInstance>[0]): Promise<string> {
  const ns = uniqueName("state");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  return ns;
}

test("the state dir is 0750 and the store's files 0640, given to `group`", async (t) => {
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
