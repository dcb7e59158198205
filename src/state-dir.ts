import { chmodSync, chownSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config.js";
import { configError } from "./errors.js";
import { run } from "./firewall/run.js";

// What the daemon creates is readable by its group (a munin plugin, a script
// that publishes the blocklist) and by nobody else: reasons and hit history are
// not for every local user.
const DIR_MODE = 0o750;
const FILE_MODE = 0o640;
export const DAEMON_UMASK = 0o027;

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/** The numeric gid of `group` (a name or a number); names through getent, so NSS groups work too. */
async function gidOf(group: string | number): Promise<number> {
  if (typeof group === "number") return group;
  const r = await run(["getent", "group", group]).catch(() => undefined);
  const gid = Number(r?.stdout.split(":")[2]);
  if (!r || !Number.isInteger(gid)) throw configError(`key "group": value ${JSON.stringify(group)} is not a group on this host (getent group ${group} found nothing); expected an existing group name or gid, e.g. "munin"`);
  return gid;
}

/**
 * Make state_dir (0750) and refuse one that others could tamper with, the way
 * sshd's StrictModes refuses a writable home: whoever can write there can swap
 * the store (so unban anyone) or the control socket. Exit 78 (EX_CONFIG), not 77:
 * more privileges would not help, a chmod or chown would.
 */
export async function prepareStateDir(config: Config): Promise<number | undefined> {
  const dir = config.state_dir;
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const st = statSync(dir);
  if (!st.isDirectory()) throw configError(`state_dir ${dir} is not a directory`);
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0) {
    throw configError(`state_dir ${dir} is owned by uid ${st.uid}, not by iblock's user (uid ${uid}) or root: chown it, or pick another state_dir`);
  }
  if (st.mode & 0o022) {
    const who = [st.mode & 0o020 ? "its group" : "", st.mode & 0o002 ? "everyone" : ""].filter(Boolean).join(" and ");
    throw configError(`state_dir ${dir} (mode ${octal(st.mode)}) is writable by ${who}, who could then replace the store or the control socket: run "chmod go-w ${dir}"`);
  }
  const gid = config.group === undefined ? undefined : await gidOf(config.group);
  if (st.uid === uid) {
    if ((st.mode & 0o777) !== DIR_MODE) chmodSync(dir, DIR_MODE);
    if (gid !== undefined && st.gid !== gid) chownSync(dir, uid, gid);
  }
  return gid;
}

/** The store's files (and the lock and pid files): 0640, in `group` when one is set. */
export function secureStateFiles(config: Config, gid: number | undefined): void {
  const names = ["iblock.sqlite", "iblock.sqlite-wal", "iblock.sqlite-shm", "iblock.lock", "iblock.pid"];
  for (const name of names) {
    const file = join(config.state_dir, name);
    try {
      const st = statSync(file);
      if ((st.mode & 0o777) !== FILE_MODE) chmodSync(file, FILE_MODE);
      if (gid !== undefined && st.gid !== gid) chownSync(file, st.uid, gid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}
