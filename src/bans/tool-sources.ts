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
    // A claim ending no later only counts.
    if (!endsLater(planned(), open.expires_at)) return { kind: "count", on: open };
    // A tool's ban (a jail of the same tool, the other tool): the claim that ends last
    // owns it, so a claim that ends sooner lifts nothing when it is released.
    if (isToolSource(open.source)) return { kind: "take-over", expires_at: planned() };
    // A trap's, a person's: it stays theirs (no tool's release lifts it) but lasts as
    // long as the tool asked: a scanner that touched a trap first (or forged a SYN)
    // does not shorten fail2ban's recidive ban.
    return { kind: "retime", expires_at: planned() };
  }
  if (!isToolSource(open.source)) return undefined;
  if (!OUTRANKS_TOOL.has(g.source)) return { kind: "count", on: open };
  // Ours from now on; a hit never shortens what the tool decided, a person's --time does.
  const own = planned();
  const expires = g.durationMs !== undefined || endsLater(own, open.expires_at) ? own : open.expires_at;
  return { kind: "take-over", expires_at: expires };
}
