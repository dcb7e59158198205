import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Config } from "../config.js";
import { describeOwners, type PortOwner } from "../trap/served-ports.js";
import type { Finding } from "./finding.js";

export const INETD_CONF = "/etc/inetd.conf";

// What doctor reads of a file it is pointed to (by a process's command line):
// root's plain file, not a link, not writable by others, a config's size.
// Anything else (a FIFO that would hang it, /dev/zero, a user's file) is no evidence.
const CONF_MAX = 1024 * 1024;

function readRootConf(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0 || st.size > CONF_MAX) return undefined;
    return readFileSync(fd, "utf8");
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** An active inetd.conf line that starts iblock for connections to listen_port. */
function confStartsIblock(port: number, confFile: string): boolean {
  const text = readRootConf(confFile);
  if (text === undefined) return false;
  return text.split("\n").some((line) => {
    // service socktype proto wait user server-program argv0 args...
    const f = line.trim().split(/\s+/);
    if (f[0] !== String(port)) return false;
    return f[6] === "iblock" || (f[5] !== undefined && ["iblock", "cli.cjs"].includes(basename(f[5])));
  });
}

// openbsd-inetd's options that take a value: inetd [-d] [-l] [-q len] [-R rate] [file].
const OPTIONS_WITH_VALUE = new Set(["-q", "-R"]);

/** The configuration file a running inetd read: its last argument, unless that is an option or an option's value. */
function confOf(pid: number): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(1);
    const last = args.at(-1);
    if (last !== undefined && !last.startsWith("-") && !OPTIONS_WITH_VALUE.has(args.at(-2) ?? "")) return last;
  } catch {
    // gone, or not ours to read: the default file
  }
  return INETD_CONF;
}

/** Whether a process runs as root: only root's inetd counts (anyone may name a program inetd). */
function runsAsRoot(pid: number): boolean {
  try {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return uid === "0";
  } catch {
    return false;
  }
}

/**
 * Whether iblock here runs from inetd, one process a connection (then no
 * daemon is normal), and whether that inetd is up. The evidence is the
 * configuration inetd reads (root's file, not a process name anyone may
 * give a program on an unprivileged port): the one of the inetd that holds
 * listen_port, else /etc/inetd.conf. `served`: who listens on which port
 * (undefined where ss cannot tell, as on the BSDs). Undefined: no inetd setup.
 */
export function inetdSetup(config: Config, served: ReadonlyMap<number, PortOwner[]> | undefined): Finding | undefined {
  const port = config.listen_port;
  const holder = served?.get(port);
  const pid = holder?.find((o) => (o.name === "inetd" || o.name === "xinetd") && runsAsRoot(o.pid))?.pid;
  const conf = pid ? confOf(pid) : INETD_CONF;
  if (!confStartsIblock(port, conf)) return undefined;
  const mode = `inetd mode (${conf} starts iblock for port ${port}): no daemon runs, each connection starts one iblock`;
  if (pid) return { ok: true, what: `${mode}; inetd (pid ${pid}) listens on ${port}` };
  if (served === undefined) return { ok: true, what: mode };
  return { ok: false, what: `${mode}, but ${holder ? `${describeOwners(holder)} holds port ${port}` : `nothing listens on port ${port}`}: start inetd (or reload it after editing ${conf})` };
}
