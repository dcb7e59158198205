// doctor on an inetd setup: which inetd holds listen_port, and so which
// inetd.conf to read, comes from ss's data (name and pid), not from a line
// made for a person.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { requireRoot } from "../support/env.js";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { inetdSetup } from "../../src/setup/doctor-inetd.js";

const PORT = 2999;

test("doctor reads the inetd.conf of the inetd that holds listen_port, named by ss's data", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-doctor-inetd-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "inetd.conf");
  writeFileSync(conf, `${PORT} stream tcp nowait root /usr/bin/iblock iblock iblocked\n`);
  // A process whose last argument is that file, as `inetd -d FILE` has.
  const inetd = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)", conf], { stdio: "ignore" });
  t.after(() => inetd.kill());
  await new Promise((r) => inetd.once("spawn", r));
  const pid = inetd.pid ?? 0;
  const config = validateConfig({ listen_port: PORT }, "defaults");

  assert.deepEqual(inetdSetup(config, new Map([[PORT, [{ name: "inetd", pid }]]])), {
    ok: true,
    what: `inetd mode (${conf} starts iblock for port ${PORT}): no daemon runs, each connection starts one iblock; inetd (pid ${pid}) listens on ${PORT}`,
  });
  // The same process under another name is no inetd: its file is not read.
  assert.notEqual(inetdSetup(config, new Map([[PORT, [{ name: "nc", pid }]]]))?.ok, true);
});

test("doctor takes no evidence from a process of another user named inetd, nor from a file that is not root's plain file", { timeout: 60_000 }, async (t) => {
  if (!requireRoot(t, ["mkfifo"])) return;
  const dir = mkdtempSync(join(tmpdir(), "iblock-doctor-inetd-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const line = `${PORT} stream tcp nowait root /usr/bin/iblock iblock iblocked\n`;
  const config = validateConfig({ listen_port: PORT }, "defaults");
  const holding = async (file: string, uid?: number): Promise<number> => {
    // A program every user may run (the Node under test may live in root's home), its last argument the file.
    const p = spawn("/bin/sh", ["-c", "sleep 60; :", "sh", file], { stdio: "ignore", uid });
    t.after(() => p.kill());
    await new Promise((r) => p.once("spawn", r));
    return p.pid ?? 0;
  };
  const rootFile = join(dir, "root.conf");
  writeFileSync(rootFile, line);
  // nobody's "inetd" on an unprivileged port, pointing at a file that says iblock runs there.
  const fake = await holding(rootFile, 65534);
  assert.ok(existsSync(`/proc/${fake}`), "nobody's process runs while doctor looks");
  assert.notEqual(inetdSetup(config, new Map([[PORT, [{ name: "inetd", pid: fake }]]]))?.ok, true);
  // root's process, but the file is someone else's, writable by others, or a FIFO (which would hang a reader).
  const usersFile = join(dir, "user.conf");
  writeFileSync(usersFile, line);
  chownSync(usersFile, 65534, 65534);
  const openFile = join(dir, "open.conf");
  writeFileSync(openFile, line, { mode: 0o666 });
  chmodSync(openFile, 0o666);
  const fifo = join(dir, "fifo.conf");
  execFileSync("mkfifo", [fifo]);
  for (const file of [usersFile, openFile, fifo]) {
    const pid = await holding(file);
    assert.notEqual(inetdSetup(config, new Map([[PORT, [{ name: "inetd", pid }]]]))?.ok, true, file);
  }
});
