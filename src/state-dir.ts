import { chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, realpathSync, statSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Config } from "./config.js";
import { configError } from "./errors.js";
import { LOCK_FILE } from "./state-lock.js";
import { run } from "./util/run.js";

// What the daemon creates is readable by its group (a munin plugin, a script
// that publishes the blocklist) and by nobody else: reasons and hit history are
// not for every local user.
const DIR_MODE = 0o750;
const FILE_MODE = 0o640;
export const DAEMON_UMASK = 0o027;

// The sticky bit (S_ISVTX), which node's fs.constants leaves out.
const STICKY = 0o1000;

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/** The numeric gid of `group` (a name or a number); names through getent, so NSS groups work too. */
async function gidOf(group: string | number): Promise<number> {
  if (typeof group === "number") return group;
  const r = await run(["getent", "group", group]).catch(() => undefined);
  const gid = Number(r?.stdout.split(":")[2]);
  if (!r || !Number.isInteger(gid)) throw configError(`key "group": value ${JSON.stringify(group)} is not a group on this host (getent group ${group} found nothing); expected an existing group name or gid, e.g. "munin"`);
  return gid;
}

/** Every directory from the root down to `dir` (absolute), `dir` last. */
function ancestors(dir: string): string[] {
  const chain = [dir];
  for (let up = dirname(dir); up !== chain[0]; up = dirname(up)) chain.unshift(up);
  return chain;
}

/**
 * A directory on the way to state_dir, checked as sshd's StrictModes checks
 * the way to authorized_keys: whoever owns it or may write in it can swap
 * what comes next for a link to a directory of their choosing, which iblock,
 * often root, would then chmod and fill. One exception sshd does not make
 * (it only walks up to the home directory): a root-owned sticky directory such
 * as /tmp. The sticky bit keeps others from renaming or removing an entry
 * they do not own, so what matters is the next component, which is checked
 * in turn (and an entry someone else planted there is theirs, so refused).
 */
function checkParent(path: string, st: Stats, uid: number, stateDir: string): void {
  const where = `state_dir ${stateDir}: its parent ${path}`;
  if (st.uid !== 0 && st.uid !== uid) {
    throw configError(`${where} is owned by uid ${st.uid}, not by root or iblock's user (uid ${uid}), who could swap state_dir for a link to another directory: chown root ${path}, or pick another state_dir`);
  }
  const stickyRoot = (st.mode & STICKY) !== 0 && st.uid === 0;
  if (st.mode & 0o022 && !stickyRoot) {
    throw configError(`${where} (mode ${octal(st.mode)}) is writable by others than its owner, who could swap state_dir for a link to another directory: run "chmod go-w ${path}", or pick another state_dir`);
  }
}

function checkLinkOwner(path: string, st: Stats, uid: number, stateDir: string): void {
  if (st.uid !== 0 && st.uid !== uid) {
    throw configError(`state_dir ${stateDir}: its parent ${path} is a symbolic link owned by uid ${st.uid}, not by root or iblock's user (uid ${uid}), who chose where it leads: remove it, or give the real directory in state_dir`);
  }
}

/** A missing parent, made 0750; one made meanwhile by someone else is checked like any other. */
function makeParent(path: string, stateDir: string): void {
  try {
    mkdirSync(path, { mode: DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return;
    throw configError(`state_dir ${stateDir}: cannot make its parent ${path}: ${(e as Error).message}`);
  }
}

/**
 * Every parent of state_dir, from the root down: made when missing (0750),
 * never through a link someone else planted. A link owned by root or us is
 * followed, and the real directories it leads through are checked too.
 */
function checkParents(dir: string, uid: number): void {
  const chain = ancestors(dir);
  chain.pop();
  for (const path of chain) {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      makeParent(path, dir);
      st = lstatSync(path);
    }
    if (st.isSymbolicLink()) {
      // A link's own mode is always 0777 and means nothing: who made it chose where it leads.
      checkLinkOwner(path, st, uid, dir);
      for (const real of ancestors(realpathSync(path))) checkParent(real, statSync(real), uid, dir);
    } else if (!st.isDirectory()) {
      throw configError(`state_dir ${dir}: its parent ${path} is not a directory`);
    } else {
      checkParent(path, st, uid, dir);
    }
  }
}

/**
 * The directory state_dir names: itself, or where a link of root's or ours
 * leads (systemd's DynamicUser makes /var/lib/NAME a link to
 * /var/lib/private/NAME), each real directory on the way checked as a
 * parent. A link of anyone else's is refused: they chose where it leads.
 */
function placeOf(dir: string, uid: number): string {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return dir;
    throw e;
  }
  if (!st.isSymbolicLink()) return dir;
  if (st.uid !== 0 && st.uid !== uid) {
    throw configError(
      `state_dir ${dir} is a symbolic link owned by uid ${st.uid}, not by root or iblock's user (uid ${uid}), who chose which directory iblock would make its own: remove it, or give the real directory as state_dir`,
    );
  }
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (e) {
    throw configError(`state_dir ${dir} is a symbolic link that leads nowhere: ${(e as Error).message}`);
  }
  checkParents(real, uid);
  return real;
}

/** state_dir itself, made when missing and opened without following a link: what we chmod is what we checked. */
function openStateDir(dir: string): number {
  try {
    mkdirSync(dir, { mode: DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  try {
    return openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || (code === "ENOTDIR" && lstatSync(dir).isSymbolicLink())) throw configError(`state_dir ${dir} became a symbolic link while iblock checked it`);
    if (code === "ENOTDIR") throw configError(`state_dir ${dir} is not a directory`);
    throw e;
  }
}

/**
 * For the CLI and inetd, which open the store without the daemon: the same
 * checks of the parents and of a link, so a store is never made in a
 * directory someone else chose. Its mode is the daemon's business.
 */
export function checkStateDirPlace(config: Pick<Config, "state_dir">): void {
  const dir = resolve(config.state_dir);
  const uid = process.geteuid?.() ?? 0;
  checkParents(dir, uid);
  const place = placeOf(dir, uid);
  let fd: number;
  try {
    fd = openSync(place, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Not made yet: the store makes it, under the parents just checked.
    if (code === "ENOENT") return;
    if (code === "ELOOP") throw configError(`state_dir ${dir} became a symbolic link while iblock checked it`);
    if (code === "ENOTDIR") throw configError(`state_dir ${dir} is not a directory`);
    throw e;
  }
  try {
    checkOwnDir(dir, fstatSync(fd), uid);
  } finally {
    closeSync(fd);
  }
  // A window stays between this check and the open, which only the directory's owner (root or us) can use.
  checkStateFiles(dir, place);
}

const STATE_FILES = ["iblock.sqlite", "iblock.sqlite-wal", "iblock.sqlite-shm", "iblock.sqlite-journal", "iblock.lock", "iblock.pid"];

/** One of iblock's files in state_dir, or undefined when there is none yet: never a link or anything but a plain file. */
function stateFile(stateDir: string, file: string): Stats | undefined {
  const st = lstatOrUndefined(file);
  if (st?.isSymbolicLink()) throw configError(`state_dir ${stateDir}: ${file} is a symbolic link: remove it (iblock makes its own files)`);
  if (st && !st.isFile()) throw configError(`state_dir ${stateDir}: ${file} is not a regular file: remove it (iblock makes its own files)`);
  return st;
}

/**
 * Before any of them is opened: whoever owns the directory could plant the
 * store or the lock as a link, and root would then create or open a file
 * where they chose. `place`: where state_dir leads, when it is a link.
 */
export function checkStateFiles(stateDir: string, place = stateDir): void {
  for (const name of STATE_FILES) stateFile(stateDir, join(place, name));
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** state_dir itself: root's or ours, and written by nobody else. */
function checkOwnDir(dir: string, st: Stats, uid: number): void {
  if (st.uid !== uid && st.uid !== 0) {
    throw configError(`state_dir ${dir} is owned by uid ${st.uid}, not by iblock's user (uid ${uid}) or root: chown it, pick another state_dir, or run iblock as uid ${st.uid}`);
  }
  if (st.mode & 0o022) {
    const who = [st.mode & 0o020 ? "its group" : "", st.mode & 0o002 ? "everyone" : ""].filter(Boolean).join(" and ");
    throw configError(`state_dir ${dir} (mode ${octal(st.mode)}) is writable by ${who}, who could then replace the store or the control socket: run "chmod go-w ${dir}"`);
  }
}

/**
 * Make state_dir (0750) and refuse one that others could tamper with, the way
 * sshd's StrictModes refuses a writable home: whoever can write there can swap
 * the store (so unban anyone) or the control socket, and whoever can write a
 * parent can swap state_dir itself. Exit 78 (EX_CONFIG), not 77: more
 * privileges would not help, a chmod or chown would.
 */
export async function prepareStateDir(config: Config): Promise<number | undefined> {
  const dir = resolve(config.state_dir);
  const uid = process.geteuid?.() ?? 0;
  checkParents(dir, uid);
  const fd = openStateDir(placeOf(dir, uid));
  try {
    const st = fstatSync(fd);
    checkOwnDir(dir, st, uid);
    const gid = config.group === undefined ? undefined : await gidOf(config.group);
    if (st.uid === uid) {
      if ((st.mode & 0o777) !== DIR_MODE) fchmodSync(fd, DIR_MODE);
      if (gid !== undefined && st.gid !== gid) fchownSync(fd, uid, gid);
    }
    return gid;
  } finally {
    closeSync(fd);
  }
}

/**
 * The store's files and the pid file: 0640, in `group` when one is set. The
 * lock is 0600 and no group's: a reader of `group` who could open it could hold
 * a read on it and so keep the daemon from taking it (exit 75) for good.
 */
export function secureStateFiles(config: Config, gid: number | undefined): void {
  for (const name of STATE_FILES) {
    const file = join(config.state_dir, name);
    // By path after lstat, never through an fd of our own: closing any fd of a
    // file drops the POSIX locks this process holds on it (SQLite's, and the
    // daemon's lock in iblock.lock). The window between lstat and chmod is the
    // directory owner's only (root or us, checkStateDirPlace).
    const st = stateFile(config.state_dir, file);
    if (st === undefined) continue;
    const own = name === LOCK_FILE;
    const mode = own ? 0o600 : FILE_MODE;
    if ((st.mode & 0o777) !== mode) chmodSync(file, mode);
    if (!own && gid !== undefined && st.gid !== gid) chownSync(file, st.uid, gid);
  }
}
