import { formatDuration } from "../policy/duration.js";
import { feedInterval, type FeedConfig } from "./config.js";
import { noRefusals, type RefusalCounts } from "./parse.js";
import type { FeedRow } from "./state.js";
import { printable } from "../printable.js";
import { isoTime } from "../time-text.js";

/** A feed as `iblock feeds --json` shows it. */
export interface FeedView {
  name: string;
  url: string;
  interval: string;
  status: string;
  last_fetch: string | null;
  last_success: string | null;
  next_fetch: string | null;
  entries: number;
  refused: RefusalCounts;
  held_back: { entries: number; since: string; applied_after: string } | null;
}

export function feedView(feed: FeedConfig, row: FeedRow | undefined, nextAt: number | undefined): FeedView {
  const held = row?.held_digest != null && row.held_since !== null;
  return {
    name: feed.name,
    url: feed.url,
    interval: formatDuration(feedInterval(feed)),
    status: row?.status ?? "not fetched yet",
    last_fetch: isoTime(row?.last_fetch ?? null),
    last_success: isoTime(row?.last_success ?? null),
    next_fetch: isoTime(nextAt ?? null),
    entries: row?.entries ?? 0,
    refused: row?.refused ? (JSON.parse(row.refused) as RefusalCounts) : noRefusals(),
    held_back: held
      ? { entries: row.held_entries ?? 0, since: isoTime(row.held_since ?? 0), applied_after: isoTime((row.held_since ?? 0) + feed.shrink_hold) }
      : null,
  };
}

/** `iblock feeds`: a few lines per feed; each escaped whole (statuses quote what servers said). */
export function formatFeeds(views: readonly FeedView[]): string {
  if (views.length === 0) return "no feeds configured ([[feed]] in the config)\n";
  const lines: string[] = [];
  for (const v of views) {
    const refused = Object.entries(v.refused)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    lines.push(`${v.name}  ${v.url}  every ${v.interval}`);
    lines.push(`  status: ${v.status}`);
    lines.push(`  entries: ${v.entries}; refused: ${refused || "none"}`);
    lines.push(`  last fetch: ${v.last_fetch ?? "never"}; last success: ${v.last_success ?? "never"}; next fetch: ${v.next_fetch ?? "when the daemon runs"}`);
    if (v.held_back) {
      lines.push(`  HELD BACK: a list of ${v.held_back.entries} entries since ${v.held_back.since}; \`iblock feeds accept ${v.name}\` applies it, else it is applied after ${v.held_back.applied_after} if unchanged`);
    }
  }
  return lines.map(printable).join("\n") + "\n";
}
