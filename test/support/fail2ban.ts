import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Instance } from "./daemon.js";
import { spawnIn } from "./netns.js";
import { run, waitUntil, type LineProcess, type RunResult } from "./proc.js";

/** A fail2ban-server of its own: config dir, socket, pid file, in-memory database, one sshd jail reading `log`. */
export interface Fail2ban {
  server: LineProcess;
  log: string;
  client: (...args: string[]) => Promise<RunResult>;
}

/**
 * Starts fail2ban 1.0 in namespace `ns` with the action `iblock setup
 * fail2ban` prints for `inst`, as its only action. Stop `server` when done.
 */
export async function startFail2ban(inst: Instance, ns: string, jail: { bantime: number; maxretry: number } = { bantime: 600, maxretry: 3 }): Promise<Fail2ban> {
  const dir = join(inst.dir, "fail2ban");
  const conf = join(dir, "conf");
  const log = join(dir, "auth.log");
  const socket = join(dir, "fail2ban.sock");
  const pid = join(dir, "fail2ban.pid");
  await mkdir(join(conf, "action.d"), { recursive: true });
  await symlink("/etc/fail2ban/filter.d", join(conf, "filter.d"));
  const setup = await inst.cli("setup", ["fail2ban"]);
  if (setup.code !== 0) throw new Error(`iblock setup fail2ban: ${setup.stderr}`);
  await writeFile(join(conf, "action.d", "iblock.py"), setup.stdout);
  await writeFile(join(conf, "fail2ban.conf"), `[Definition]\nloglevel = INFO\nlogtarget = STDOUT\nsocket = ${socket}\npidfile = ${pid}\ndbfile = :memory:\n`);
  await writeFile(
    join(conf, "jail.conf"),
    // ignoreself off: the host's own address reaches iblock, which must refuse it itself.
    `[DEFAULT]\nbackend = polling\nusedns = no\nignoreself = false\nbanaction = iblock.py\n\n[sshd]\nenabled = true\nfilter = sshd\nlogpath = ${log}\n` +
      `maxretry = ${jail.maxretry}\nfindtime = 600\nbantime = ${jail.bantime}\naction = %(banaction)s\n`,
  );
  await writeFile(log, "");
  const server = spawnIn(ns, ["fail2ban-server", "-f", "-x", "-c", conf, "-s", socket, "-p", pid]);
  const client = (...args: string[]): Promise<RunResult> => run(["fail2ban-client", "-c", conf, "-s", socket, ...args]);
  try {
    await waitUntil(async () => (await client("status", "sshd")).code === 0, { timeoutMs: 30_000, what: "fail2ban's sshd jail" });
  } catch (e) {
    await server.stop("SIGTERM", 10_000);
    throw new Error(`${(e as Error).message}\n${server.tail()}`);
  }
  return { server, log, client };
}

/** A failed sshd login as syslog writes it, dated now: what fail2ban's sshd filter reads. */
export function sshFailure(addr: string, what = "Failed password for root"): string {
  const d = new Date();
  const month = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  return `${month} ${String(d.getUTCDate()).padStart(2, " ")} ${d.toISOString().slice(11, 19)} host sshd[4242]: ${what} from ${addr} port 50000 ssh2\n`;
}
