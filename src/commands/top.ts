import type { Config } from "../config.js";
import { RecentEvents, type RecentEvent } from "../store/recent-events.js";
import type { MinuteRow } from "../store/history.js";
import type { Store } from "../store/store.js";
import { shown } from "./list.js";
import { withReader } from "../bans/pipeline.js";
import { printable } from "../printable.js";
import { timeOfDay } from "../time-text.js";

export interface TopOptions {
  /** Print once and exit (the default when standard output is not a terminal). */
  once?: boolean;
  /** Between screens, ms. */
  intervalMs: number;
  /** How far back the summary looks, in minutes. */
  minutes: number;
}

const BARS = "▁▂▃▄▅▆▇█";
const LATEST = 10;

/** The per-minute counts of the last `minutes`, zeros included, as a row of bars. */
function sparkline(counts: readonly MinuteRow[], key: "bans" | "hits", from: number, minutes: number): string {
  const by = new Map(counts.map((c) => [c.minute, c[key]]));
  const values = Array.from({ length: minutes }, (_, i) => by.get(from + i * 60_000) ?? 0);
  const max = Math.max(...values);
  return values.map((v) => (v === 0 ? " " : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1)))])).join("");
}


function eventLine(e: RecentEvent): string {
  const port = e.port ? `port ${e.port}` : "";
  return `  ${timeOfDay(e.at)}  ${e.kind.padEnd(5)}  ${shown(e.prefix).padEnd(28)} ${port.padEnd(10)} ${e.detail ?? ""}`.trimEnd();
}

/** One screen: what a glance should tell, from the store alone (no daemon needed, nothing written). */
export function topScreen(store: Store, opts: Pick<TopOptions, "minutes">, now = Date.now()): string {
  const from = Math.floor(now / 60_000) * 60_000 - (opts.minutes - 1) * 60_000;
  // The same counts as `stats`, /api/stats and the dashboard: Store.activity.
  const activity = store.activity(from, now);
  const counts = activity.minutes;
  const active = counts.at(-1)?.active ?? 0;
  const { bans, hits } = activity;
  const lastMinute = counts.find((c) => c.minute === Math.floor(now / 60_000) * 60_000);
  const ports = activity.top_ports.slice(0, 6);
  const latest = new RecentEvents(store.database).latest(LATEST);
  const lines = [
    `iblock top, ${new Date(now).toISOString().replace("T", " ").slice(0, 19)} UTC`,
    "",
    `bans in force   ${active}`,
    `last ${opts.minutes} min     ${bans} bans (${(bans / (opts.minutes * 60)).toFixed(2)}/s), ${hits} hits`,
    `this minute     ${lastMinute?.bans ?? 0} bans, ${lastMinute?.hits ?? 0} hits`,
    `bans/min        [${sparkline(counts, "bans", from, opts.minutes)}]`,
    `hits/min        [${sparkline(counts, "hits", from, opts.minutes)}]`,
    "",
    `top trap ports  ${ports.length ? ports.map((p) => `${p.port} (${p.hits})`).join("  ") : "none"}`,
    "",
    "latest bans and unbans",
    ...(latest.length ? latest.map(eventLine) : ["  none yet"]),
  ];
  return lines.map(printable).join("\n") + "\n";
}

/** `iblock top`: a screen every interval until interrupted, or once. */
export async function top(config: Config, opts: TopOptions): Promise<void> {
  const once = opts.once || !process.stdout.isTTY;
  // Opened for each screen: a store removed or no longer readable ends the loop with its error, not with frozen numbers.
  const screen = (): string => withReader(config, (store) => topScreen(store, opts));
  if (once) {
    process.stdout.write(screen());
    return;
  }
  const CLEAR = "\x1b[H\x1b[2J";
  for (;;) {
    process.stdout.write(CLEAR + screen());
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
