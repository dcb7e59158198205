import { createServer, isIP, type Server, type Socket } from "node:net";
import { peerPrefix, type Prefix } from "../net/address.js";
import type { Logger } from "../log.js";
import { readFileSync } from "node:fs";
import ipaddr from "ipaddr.js";
import { configError, unavailableError } from "../errors.js";
import { throttled } from "../util/throttled.js";

export type HitHandler = (peer: Prefix, port: number | undefined) => void;

/**
 * The userland route: TCP listeners on trap ports (direct), on the one port
 * the firewall redirects to (redirect), or on sockets handed to us (inetd,
 * systemd). A connection gives its peer address and is reset at once, unread.
 */
// /proc/net/if_inet6's flags (Linux's IFA_F_*): an address under duplicate address
// detection cannot be bound to yet; one that failed it never will.
const IFA_F_TENTATIVE = 0x40;
const IFA_F_DADFAILED = 0x08;

/** An IPv6 address of this host that is not usable: still "tentative", or a "duplicate" DAD found; else undefined. */
function unusableIPv6(host: string): "tentative" | "duplicate" | undefined {
  if (isIP(host) !== 6) return undefined;
  const hex = Buffer.from(ipaddr.parse(host).toByteArray()).toString("hex");
  let table: string;
  try {
    table = readFileSync("/proc/net/if_inet6", "utf8");
  } catch {
    return undefined; // not Linux: no such state to tell
  }
  for (const line of table.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] !== hex) continue;
    const flags = Number.parseInt(cols[4] ?? "0", 16);
    if (flags & IFA_F_DADFAILED) return "duplicate";
    if (flags & IFA_F_TENTATIVE) return "tentative";
  }
  return undefined;
}

export class TrapListeners {
  private readonly servers: Server[] = [];
  private readonly warnLost: (msg: string) => void;
  private readonly warnAccept: (msg: string) => void;
  lostHits = 0;

  constructor(
    private readonly log: Logger,
    private readonly onHit: HitHandler,
  ) {
    const say = (msg: string, skipped: number): void =>
      this.log.warn(skipped ? `${msg} (and ${skipped} more since the last report)` : msg);
    this.warnLost = throttled(10_000, say);
    this.warnAccept = throttled(10_000, say);
  }

  /** `portKnown`: the socket's own port is the trap port (not a redirect's target). */
  private handle(socket: Socket, portKnown: boolean | ((localPort: number | undefined) => boolean)): void {
    socket.on("error", () => undefined); // a scanner's reset is no concern of ours
    const peer = peerPrefix(socket.remoteAddress);
    const known = typeof portKnown === "boolean" ? portKnown : portKnown(socket.localPort);
    const port = known ? socket.localPort : undefined;
    if (!peer) {
      socket.resetAndDestroy();
      // The scanner reset before we got to it (nmap -sT does): the kernel route catches these.
      this.lostHits++;
      this.warnLost(`lost trap hit: peer gone before accept${port ? ` (port ${port})` : ""}; ${this.lostHits} so far`);
      return;
    }
    // The ban first: an early ban's line goes to nft in this turn's promise
    // jobs, while the reset (which wakes the scanner at once) waits for the next turn.
    try {
      this.onHit(peer, port);
    } finally {
      setImmediate(() => socket.resetAndDestroy());
    }
  }

  private server(portKnown: boolean | ((localPort: number | undefined) => boolean)): Server {
    return createServer({ pauseOnConnect: true }, (s) => this.handle(s, portKnown));
  }

  /** Once listening: EMFILE/ENFILE on accept leave it listening; say so now and then. */
  private keep(server: Server): void {
    server.on("error", (e) => this.warnAccept(`trap listener: ${e.message}`));
    this.servers.push(server);
  }

  /**
   * Listen on `port` at `host`. Resolves false (after logging why) when it cannot;
   * an address this host does not have is a mistake in the config, not a busy port: it throws.
   */
  listen(host: string, port: number, portKnown: boolean): Promise<boolean> {
    const server = this.server(portKnown);
    return new Promise((resolve, reject) => {
      const fail = (e: NodeJS.ErrnoException): void => {
        if (e.code === "EADDRNOTAVAIL") {
          // Under duplicate address detection (IPv6 at boot, a link without carrier yet): 69, which
          // the unit restarts; an address the host has nowhere, or a duplicate, is for the admin (78).
          const state = unusableIPv6(host);
          reject(
            state === "tentative"
              ? unavailableError(`cannot listen on ${host} yet (EADDRNOTAVAIL: duplicate address detection is under way on it); try again`)
              : state === "duplicate"
                ? configError(`key "listen_addresses": ${host} failed duplicate address detection (another host on the link has it): EADDRNOTAVAIL`)
                : configError(`key "listen_addresses": this host has no address ${host} (EADDRNOTAVAIL); expected addresses of this host, or leave listen_addresses out to listen on all`),
          );
          return;
        }
        this.log.warn(`cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}: ${e.code ?? e.message}`);
        resolve(false);
      };
      server.once("error", fail);
      server.listen({ host, port, backlog: 1024, ipv6Only: host.includes(":") }, () => {
        server.off("error", fail);
        this.keep(server);
        resolve(true);
      });
    });
  }

  /**
   * Use a socket someone else bound (systemd socket activation). A socket on
   * `redirectPort` is the redirect's target: its port is not the trap port.
   */
  adopt(handle: { fd: number }, redirectPort?: number): void {
    const server = this.server((localPort) => localPort !== redirectPort);
    this.keep(server);
    server.listen(handle);
  }

  async close(): Promise<void> {
    const all = this.servers.splice(0);
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
