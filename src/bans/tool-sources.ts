import { PROVEN_SOURCES } from "./proven-sources.js";
import type { BanRow, HitGroup } from "../store/rows.js";
import type { HitDecision } from "../store/hit-recorder.js";
import { endsLater } from "./nesting.js";

/**
 * Log-reading blockers that use iblock as their firewall. Their bans are
 * their decision (no threshold), recorded under their own name so the fleet
 * shares them only when [cluster] share lists it, and only they lift them.
 */
export const TOOL_SOURCES = ["fail2ban", "sshguard"] as const;
export type ToolSource = (typeof TOOL_SOURCES)[number];
export const isToolSource = (source: string): source is ToolSource => (TOOL_SOURCES as readonly string[]).includes(source);

/**
 * What takes a tool's ban over, so the tool's unban no longer lifts it: a
 * connection that proved its source (a SYN proves nothing), or a person.
 */
const OUTRANKS_TOOL: ReadonlySet<string> = new Set([...PROVEN_SOURCES, "cli", "api", "local"]);

/**
 * A tool's request on a ban in force that is not borrowed (a feed's or a
 * peer's, which the usual rule hands over), or a request on a tool's ban;
 * undefined when neither is a tool's. `planned`: when the request's own ban
 * would end (asked only when a tool is involved: it reads the store).
 */
export function decideWithTool(open: BanRow, g: Pick<HitGroup, "source" | "durationMs">, planned: () => number | null): HitDecision | undefined {
  if (isToolSource(g.source)) {
    // The latest claim of the same tool that ends last owns it (its jail is the reason):
    // a jail whose ban ends sooner then lifts nothing when it releases the address.
    if (open.source === g.source && endsLater(planned(), open.expires_at)) return { kind: "take-over", expires_at: planned() };
    // Anyone else's ban (a trap's, an admin's, another tool's) stays theirs, so the tool's
    // release cannot lift it; but it lasts as long as the tool asked, or a scanner that
    // touched a trap first (or forged a SYN) would shorten fail2ban's recidive ban.
    if (endsLater(planned(), open.expires_at)) return { kind: "retime", expires_at: planned() };
    return { kind: "count", on: open };
  }
  if (!isToolSource(open.source)) return undefined;
  if (!OUTRANKS_TOOL.has(g.source)) return { kind: "count", on: open };
  // Ours from now on; a hit never shortens what the tool decided, a person's --time does.
  const own = planned();
  const expires = g.durationMs !== undefined || endsLater(own, open.expires_at) ? own : open.expires_at;
  return { kind: "take-over", expires_at: expires };
}
