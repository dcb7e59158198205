import { lstatSync, readdirSync, realpathSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";

// A generated unit, rc.d script or inetd.conf line runs iblock as root or with
// CAP_NET_ADMIN, reading its config (whose command_prefix it executes). Whoever
// may change the program or the config, or swap a directory on the way to
// them, then runs commands with those rights: iblock run from a user's
// checkout, or `-c /home/user/x.toml`. Said before the admin installs the file.

/** Every directory from / down to `path`'s parent, then `path`. */
function chain(path: string): string[] {
  const out = [path];
  for (let up = dirname(path); up !== out[0]; up = dirname(up)) out.unshift(up);
  return out;
}

/** Why `st` lets someone other than root change what lies at `path`; undefined when only root can. */
function openTo(path: string, st: Stats): string | undefined {
  if (st.uid !== 0) return `${path} is owned by uid ${st.uid}`;
  if (st.isSymbolicLink()) return undefined; // root's link: where it leads is checked too
  const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
  // A sticky directory of root's (/tmp): others may add files, not swap root's.
  if ((st.mode & 0o022) !== 0 && !sticky) return `${path} is writable by ${(st.mode & 0o002) !== 0 ? "everyone" : `group ${st.gid}`}`;
  return undefined;
}

/**
 * Why a file the generated files make root run or read could be changed by
 * someone else: the file, a link to it, or a directory on the way (as named
 * and as the links resolve). Undefined when only root can change it.
 */
export function changeableByOthers(file: string): string | undefined {
  const named = resolve(file);
  let real: string;
  try {
    real = realpathSync(named);
  } catch (e) {
    return `${named} cannot be read: ${(e as Error).message}`;
  }
  for (const path of new Set([...chain(named), ...chain(real)])) {
    const why = openTo(path, lstatSync(path));
    if (why) return why;
  }
  return undefined;
}

/** The program as named, and every file beside its real self (the bundle, its code cache, the worker): what root runs. */
export function programFiles(program: string): string[] {
  try {
    const dir = dirname(realpathSync(program));
    return [program, ...readdirSync(dir).map((name) => join(dir, name))];
  } catch {
    return [program];
  }
}
