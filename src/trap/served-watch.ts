import type { Logger } from "../log.js";
import { servedPorts } from "./served-ports.js";

/**
 * Says when a service starts or stops listening on a trap port. Where iblock
 * holds no trap port (listen = "redirect" on nftables), the firewall already
 * leaves a port that a socket listens on to its service, from its first
 * client on; this tells the admin, one line each way.
 */
export class ServedPortWatch {
  /** Trap ports a service listens on now, with who. */
  private readonly served = new Map<number, string>();

  constructor(
    private readonly log: Logger,
    private readonly trapPorts: () => readonly number[],
    private readonly listServed: () => Promise<Map<number, string>> = () => servedPorts(),
  ) {}

  async check(): Promise<void> {
    const now = await this.listServed();
    for (const port of this.trapPorts()) {
      const who = now.get(port);
      if (who && !this.served.has(port)) {
        this.served.set(port, who);
        this.log.info(`port ${port} is now served by ${who}: no longer a trap`);
      } else if (!who && this.served.has(port)) {
        this.served.delete(port);
        this.log.info(`port ${port} is no longer served: a trap again`);
      }
    }
  }
}
