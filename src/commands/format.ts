import type { DaemonStatus, ShowView } from "../control/operations.js";
import { coveredWords } from "../control/operations.js";
import { printable } from "../printable.js";
import type { Stats } from "../store/store.js";
import type { HooksStatus } from "../hooks/hooks.js";
import type { ReportStatus } from "../report/reporter.js";
import { clusterLine } from "./cluster.js";

/** `iblock stats` for a person: the daemon's state, then the store's counts. */
export function formatStats(s: Stats & { daemon?: DaemonStatus }): string {
  const ports = s.top_ports.map((p) => `${p.port} (${p.hits})`).join(", ") || "none";
  const d = s.daemon;
  const state = !d
    ? "not running"
    : `${d.restoring ? `starting: ${d.restoring.restored} of ${d.restoring.total} bans restored` : d.state} (event loop's longest stall since the last stats: ${d.event_loop_max_ms} ms)`;
  const text = `daemon: ${state}\nactive bans: ${s.active}\nbans in the last 24 h: ${s.bans_last_24h}\nhits in the last 24 h: ${s.hits_last_24h}\ntop trap ports (24 h): ${ports}\n`;
  const lines = [d?.cluster && clusterLine(d.cluster), d?.report && reportLine(d.report), ...Object.entries(d?.hooks ?? {}).map(([name, h]) => hookLine(name, h))];
  return text + lines.filter((l) => l).map((l) => `${l}\n`).join("");
}

function reportLine(r: ReportStatus): string {
  const paused = r.paused_until ? `, paused until ${r.paused_until}` : "";
  return `abuse reports: ${r.sent_24h} of ${r.daily_budget} sent in the last 24 h, ${r.queued} queued${paused}; since start ${r.sent} sent, ${r.failed} failed, ${r.skipped_recent} skipped (reported within 15 min), ${r.dropped} dropped`;
}

function hookLine(name: string, h: HooksStatus[string]): string {
  return `hook ${name}: ${h.calls} call(s), ${h.failures} failed, ${h.dropped} event(s) dropped, ${h.queued} waiting`;
}

// Reasons and sources come from peers, feeds and the API: each line is escaped whole.
export function formatShow(v: ShowView): string {
  const lines: string[] = [];
  for (const p of v.prefixes) {
    const ports = p.ports.map((x) => `${x.port} (${x.hits})`).join(", ") || "none";
    const state = p.banned ? "banned" : p.covered_by ? coveredWords({ prefix: p.covered_by.prefix, expires_at: p.covered_by.until === null ? null : Date.parse(p.covered_by.until) }) : "not banned";
    lines.push(`${p.prefix}: ${state}, ${p.hits} hit(s), ports ${ports}`);
    for (const b of p.bans) {
      const end = b.ended ? `ended ${b.until ?? "?"} (${b.end_reason ?? "ended"})` : `until ${b.until ?? "permanent"}`;
      lines.push(`  ${b.from}  ${end}  source ${b.source}${b.port ? `, port ${b.port}` : ""}${b.reason ? `, ${b.reason}` : ""}`);
    }
  }
  return lines.map(printable).join("\n") + "\n";
}
