import type { Config } from "../config.js";
import { configError, unavailableError } from "../errors.js";
import { run } from "../firewall/run.js";
import type { Logger } from "../log.js";

/**
 * TCP ports something on this host listens on, with the process when ss can
 * tell. Trapping such a port would ban the service's own clients.
 */
export async function servedPorts(ownPid = process.pid): Promise<Map<number, string>> {
  // No ss: nothing to warn about, the bind itself will fail on a served port.
  return (await listServedPorts(ownPid)) ?? new Map<number, string>();
}

/** The same, or undefined when ss cannot run (not "nothing listens"). */
export async function listServedPorts(ownPid = process.pid): Promise<Map<number, string> | undefined> {
  const served = new Map<number, string>();
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
    const pids = [...users.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    // Ours, alone or shared with systemd (socket activation).
    if (pids.includes(ownPid)) continue;
    const names = [...new Set([...users.matchAll(/\("([^"]+)",pid=(\d+)/g)].map((m) => `${m[1]} (pid ${m[2]})`))];
    if (!served.has(port)) served.set(port, names.join(", ") || "unknown process");
  }
  return served;
}

/**
 * Trap ports minus those a local service listens on (trapping them would ban
 * its clients), and those. `inetdPort`: the port inetd ran this iblock for,
 * which inetd holding is the expected state, not a service.
 */
export async function usableTrapPorts(config: Config, log: Logger, inetdPort?: number): Promise<{ ports: number[]; served: Map<number, string> }> {
  const served = await servedPorts();
  if (inetdPort !== undefined) served.delete(inetdPort);
  if (config.listen === "redirect" && served.has(config.listen_port)) {
    throw unavailableError(`listen_port ${config.listen_port} is in use by ${served.get(config.listen_port)}; pick another`);
  }
  const ports = config.trap_ports.filter((p) => {
    const who = served.get(p);
    if (who) log.warn(`trap port ${p} skipped: ${who} listens on it, and trapping it would ban its clients`);
    return !who;
  });
  if (ports.length === 0) throw configError(`every trap port is served by a local service; nothing to trap`);
  return { ports, served };
}
