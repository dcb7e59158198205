import { formatPrefix, type Prefix } from "../net/address.js";
import { ADOPTED, isHitSource } from "./rules.js";

/**
 * The log line of a ban put in the firewall. A trap hit keeps the original's
 * "blocking ADDR (port N)": log watchers grep for it. Any other ban says what
 * made it, so an admin never reads a peer's or their own ban as a connection
 * to this host. Undefined: no line (an adopted ban: the scan logs a count).
 * A reason is someone else's text (an admin's, an API client's, a peer's):
 * quoted, so it cannot pass for more of our line.
 */
export function banLine(prefix: Prefix, ban: { source: string; reason: string | null; port: number | null }): string | undefined {
  const shown = formatPrefix(prefix);
  if (isHitSource(ban.source)) return `blocking ${shown}${ban.port ? ` (port ${ban.port})` : ""}`;
  switch (ban.source) {
    case ADOPTED:
      return undefined;
    // A peer's reason starts with its name (peerReason in cluster/peer-applier.ts).
    case "peer":
      return `blocking ${shown} (from peer ${JSON.stringify(ban.reason ?? "unknown")})`;
    default:
      return `blocking ${shown} (${ban.source}${ban.reason ? `: ${JSON.stringify(ban.reason)}` : ""})`;
  }
}
