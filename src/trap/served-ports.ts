import { open } from "node:fs/promises";
import type { Config } from "../config.js";
import { configError, unavailableError } from "../errors.js";
import { run } from "../util/run.js";
import type { Logger } from "../log.js";

/** A process listening on a port, as ss names it. */
export interface PortOwner {
  name: string;
  pid: number;
}

/**
 * Who listens on each served port. An empty list: something does, but ss
 * cannot name it (another user's process, to anyone but root).
 */
export type ServedPorts = Map<number, PortOwner[]>;

/** For a person: "sshd (pid 12), sshd (pid 40)", or "unknown process". */
export function describeOwners(owners: readonly PortOwner[]): string {
  return owners.map((o) => `${o.name} (pid ${o.pid})`).join(", ") || "unknown process";
}

/**
 * TCP ports something on this host listens on, with the processes when ss can
 * tell. Trapping such a port would ban the service's own clients.
 */
export async function servedPorts(ownPid = process.pid): Promise<ServedPorts> {
  // No ss: nothing to warn about, the bind itself will fail on a served port.
  return (await listServedPorts(ownPid)) ?? new Map<number, PortOwner[]>();
}

/** The same, or undefined when ss cannot run (not "nothing listens"). */
export async function listServedPorts(ownPid = process.pid): Promise<ServedPorts | undefined> {
  const served: ServedPorts = new Map();
  let stdout: string;
  try {
    ({ stdout } = await run(["ss", "-H", "-l", "-t", "-n", "-p"], { timeoutMs: 10_000 }));
  } catch {
    return undefined;
  }
  for (const line of stdout.split("\n")) {
    // State Recv-Q Send-Q Local:Port Peer:Port [users:(("name",pid=N,fd=M))]
    const cols = line.trim().split(/\s+/);
    const local = cols[3];
    if (!local) continue;
    const port = Number(local.slice(local.lastIndexOf(":") + 1));
    if (!Number.isInteger(port)) continue;
    const users = cols.slice(5).join(" ");
    const owners = [...users.matchAll(/\("([^"]+)",pid=(\d+)/g)].map((m) => ({ name: m[1] ?? "", pid: Number(m[2]) }));
    // Ours, alone or shared with systemd (socket activation).
    if (owners.some((o) => o.pid === ownPid)) continue;
    // Every holder of the port (0.0.0.0 and [::] may be two programs); one process
    // holds a port once per fd (IPv4 and IPv6, several workers): named once.
    const all = [...(served.get(port) ?? []), ...owners];
    served.set(port, all.filter((o, i) => all.findIndex((x) => x.pid === o.pid && x.name === o.name) === i));
  }
  return served;
}

// The kernel's socket state for LISTEN in /proc/net/tcp (TCP_LISTEN, hex).
const LISTEN_STATE = "0A";
const PROC_CHUNK = 65_536;

/**
 * TCP ports something listens on in this network namespace, read from
 * /proc/net/tcp and tcp6: no process is started, so the daemon can look every
 * few seconds at almost no cost. No owners (ss names them, listServedPorts);
 * undefined when the files cannot be read.
 */
export async function listeningPorts(
  files: readonly { path: string; optional?: boolean }[] = [{ path: "/proc/net/tcp" }, { path: "/proc/net/tcp6", optional: true }],
): Promise<Set<number> | undefined> {
  const ports = new Set<number>();
  try {
    for (const file of files) await readListening(file, ports);
  } catch {
    return undefined;
  }
  return ports;
}

/**
 * The kernel lists listening sockets first, then the connections (its
 * tcp_seq_start walks the listening hash before the established one): the
 * read stops at the first connection, so a busy server's 100,000 connections
 * are never read.
 */
async function readListening(file: { path: string; optional?: boolean }, into: Set<number>): Promise<void> {
  const fh = await open(file.path, "r").catch((e: NodeJS.ErrnoException) => {
    // No tcp6 where IPv6 is disabled (ipv6.disable=1): nothing listens there.
    if (e.code === "ENOENT" && file.optional) return undefined;
    throw e;
  });
  if (!fh) return;
  try {
    const buf = Buffer.alloc(PROC_CHUNK);
    let rest = "";
    let header = true;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, PROC_CHUNK, null);
      if (bytesRead === 0) return;
      const lines = (rest + buf.toString("latin1", 0, bytesRead)).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (header) {
          header = false; // "  sl  local_address rem_address   st ..."
          continue;
        }
        // "   0: 00000000:0017 00000000:0000 0A ...": the local port in hex, then the state.
        const [, local = "", , state] = line.trim().split(/\s+/);
        if (state !== LISTEN_STATE) return;
        const port = Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
        if (Number.isInteger(port)) into.add(port);
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * Trap ports minus those a local service listens on (trapping them would ban
 * its clients), and those. `inetdPort`: the port inetd ran this iblock for,
 * which our parent (that inetd) holding is the expected state, not a service.
 */
export async function usableTrapPorts(config: Config, log: Logger, inetdPort?: number): Promise<{ ports: number[]; served: ServedPorts }> {
  const served = await servedPorts();
  // The inetd that started us holding its port is no service; anyone else beside it on that port is.
  if (inetdPort !== undefined && (served.get(inetdPort) ?? []).every((o) => o.pid === process.ppid)) served.delete(inetdPort);
  if (config.listen === "redirect" && served.has(config.listen_port)) {
    throw unavailableError(`listen_port ${config.listen_port} is in use by ${describeOwners(served.get(config.listen_port) ?? [])}; pick another`);
  }
  const ports = config.trap_ports.filter((p) => {
    const who = served.get(p);
    if (who) log.warn(`trap port ${p} skipped: ${describeOwners(who)} listens on it, and trapping it would ban its clients`);
    return !who;
  });
  if (ports.length === 0) throw configError(`every trap port is served by a local service; nothing to trap`);
  return { ports, served };
}
