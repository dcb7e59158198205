import type { BanChange } from "../bans/changes.js";
import { formatPrefix, prefixKey } from "../net/address.js";

/** One ban or unban as a hook is told of it: the JSON a webhook's array and a program's stdin lines hold. */
export type HookEvent =
  | {
      event: "ban";
      /** "203.0.113.7", or "2001:db8::/64" for a network. */
      address: string;
      /** Always with its length: "203.0.113.7/32". */
      prefix: string;
      /** trap | kernel | inetd | cli | api | feed:NAME | peer | ... */
      source: string;
      port: number | null;
      reason: string | null;
      /** ISO time; null: permanent. */
      expires_at: string | null;
      at: string;
    }
  | {
      event: "unban";
      address: string;
      prefix: string;
      /** expired | unban | allowed | covered | peer | feed | refused */
      ending: string;
      reason: string;
      at: string;
    };

const iso = (ms: number): string => new Date(ms).toISOString();

/** The event for a change; none for a ban in force given a new length (no new ban). */
export function hookEvent(c: BanChange): HookEvent | undefined {
  const where = { address: formatPrefix(c.prefix), prefix: prefixKey(c.prefix) };
  if (c.kind === "unban") return { event: "unban", ...where, ending: c.ending, reason: c.reason, at: iso(c.at) };
  if (c.renewed) return undefined;
  return { event: "ban", ...where, source: c.source, port: c.port, reason: c.reason, expires_at: c.expiresAt === null ? null : iso(c.expiresAt), at: iso(c.at) };
}
