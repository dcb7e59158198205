import { formatDuration } from "../policy/duration.js";
import { describeOwners, listeningPorts, listServedPorts, type PortOwner, type ServedPorts } from "./served-ports.js";

/**
 * Where iblock holds no trap port (listen = "redirect" on nftables), a
 * service may start on one later. The firewall leaves a port a socket
 * listens on to its service from the first client on; this takes the port out
 * of the traps as well, so the service's clients are not banned while it
 * restarts, and gives it back once the service has been gone `againAfterMs`.
 * One line each way, for the caller to log once the firewall holds the change.
 */
export class ServedPortWatch {
  /** Trap ports out of the traps, with who took them. */
  private readonly taken = new Map<number, PortOwner[]>();
  /** When each taken port was last seen unserved, while it is. */
  private readonly leftAt = new Map<number, number>();

  constructor(
    /** The configured trap ports. */
    private readonly ports: readonly number[],
    /** Ports a service holds at the start (already skipped, already said). */
    servedAtStart: ReadonlyMap<number, PortOwner[]>,
    private readonly againAfterMs: number,
    /** The watch of the config before a reload: what it had taken stays taken, its wait goes on. */
    before?: ServedPortWatch,
    /** The listening sockets with their owners (ss); undefined when they cannot be read (that round is skipped). */
    private readonly listServed: () => Promise<ServedPorts | undefined> = () => listServedPorts(),
    private readonly now: () => number = Date.now,
    /** The ports listened on, without owners (cheap); undefined when they cannot be read (ss is asked instead). */
    private readonly listening: () => Promise<ReadonlySet<number> | undefined> = () => listeningPorts(),
  ) {
    for (const [port, who] of before?.taken ?? []) {
      if (!ports.includes(port)) continue;
      this.taken.set(port, who);
      const left = before?.leftAt.get(port);
      if (left !== undefined) this.leftAt.set(port, left);
    }
    for (const [port, who] of servedAtStart) {
      if (!ports.includes(port)) continue;
      this.taken.set(port, who);
      this.leftAt.delete(port);
    }
  }

  /** The trap ports no service has taken. */
  get trapPorts(): number[] {
    return this.ports.filter((p) => !this.taken.has(p));
  }

  /** Look again: what to say of what changed (nothing when the sockets cannot be read). */
  async check(): Promise<string[]> {
    const served = await this.look();
    if (!served) return [];
    const now = this.now();
    const lines: string[] = [];
    for (const port of this.ports) {
      const who = served.get(port);
      if (who) {
        this.leftAt.delete(port);
        if (this.taken.has(port)) continue;
        this.taken.set(port, who);
        lines.push(`port ${port} is now served by ${describeOwners(who)}: no longer a trap`);
      } else if (this.taken.has(port)) {
        const left = this.leftAt.get(port);
        if (left === undefined) {
          this.leftAt.set(port, now);
          lines.push(`port ${port} is no longer served by ${describeOwners(this.taken.get(port) ?? [])}: a trap again in ${formatDuration(this.againAfterMs)} unless it comes back`);
        } else if (now - left >= this.againAfterMs) {
          this.taken.delete(port);
          this.leftAt.delete(port);
          lines.push(`port ${port} is a trap again`);
        }
      }
    }
    return lines;
  }

  /**
   * The served trap ports. ss (a process, and a walk of every process's open
   * files) is asked only when a port that is still a trap is listened on:
   * otherwise the kernel's list of listening ports says all there is to know.
   */
  private async look(): Promise<ServedPorts | undefined> {
    const listening = await this.listening();
    if (!listening || this.ports.some((p) => listening.has(p) && !this.taken.has(p))) return this.listServed();
    return new Map(this.ports.filter((p) => listening.has(p)).map((p) => [p, this.taken.get(p) ?? []]));
  }
}
