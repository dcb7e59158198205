import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Config } from "../config.js";
import { describeOwners, type PortOwner } from "../trap/served-ports.js";
import type { Finding } from "./doctor.js";

export const INETD_CONF = "/etc/inetd.conf";

/** An active inetd.conf line that starts iblock for connections to listen_port. */
function confStartsIblock(port: number, confFile: string): boolean {
  let text: string;
  try {
    text = readFileSync(confFile, "utf8");
  } catch {
    return false;
  }
  return text.split("\n").some((line) => {
    // service socktype proto wait user server-program argv0 args...
    const f = line.trim().split(/\s+/);
    if (f[0] !== String(port)) return false;
    return f[6] === "iblock" || (f[5] !== undefined && ["iblock", "cli.cjs"].includes(basename(f[5])));
  });
}

/** The configuration file a running inetd read: its last argument unless that is an option (inetd [-d] [-l] [file]). */
function confOf(pid: number): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(1);
    const last = args.at(-1);
    return last !== undefined && !last.startsWith("-") ? last : INETD_CONF;
  } catch {
    return INETD_CONF;
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
  const pid = holder?.find((o) => o.name === "inetd" || o.name === "xinetd")?.pid;
  const conf = pid ? confOf(pid) : INETD_CONF;
  if (!confStartsIblock(port, conf)) return undefined;
  const mode = `inetd mode (${conf} starts iblock for port ${port}): no daemon runs, each connection starts one iblock`;
  if (pid) return { ok: true, what: `${mode}; inetd (pid ${pid}) listens on ${port}` };
  if (served === undefined) return { ok: true, what: mode };
  return { ok: false, what: `${mode}, but ${holder ? `${describeOwners(holder)} holds port ${port}` : `nothing listens on port ${port}`}: start inetd (or reload it after editing ${conf})` };
}
