import type { BanRow } from "../store/store.js";
import { printable } from "../printable.js";
import { isoTime, timeMs } from "../time-text.js";

const pad2 = (n: number): string => String(n).padStart(2, "0");

/**
 * "2026-12-06 17:14:03 +0100": to the second, in local time (or UTC), with
 * the offset on every line, so a ban from before a DST change reads right and
 * a pasted line says which zone it is in. What is no date says so, as isoTime does.
 */
export function tableTime(value: number, utc = false): string {
  const ms = timeMs(value);
  if (ms === undefined) return isoTime(value);
  const d = new Date(ms);
  if (utc) return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)} +0000`;
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const zone = `${sign}${pad2(Math.floor(Math.abs(offset) / 60))}${pad2(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone}`;
}

/** How long a ban has left, to the minute: "2d 4h", "3h 12m", "12m", "42s", "permanent", "expired". */
export function expiresIn(expiresAt: number | null, now: number): string {
  if (expiresAt === null) return "permanent";
  const left = expiresAt - now;
  if (left <= 0) return "expired";
  const s = Math.floor(left / 1000);
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

interface Column {
  title: string;
  right?: boolean;
}

const COLUMNS: readonly Column[] = [
  { title: "PREFIX" },
  { title: "SINCE" },
  { title: "EXPIRES" },
  { title: "EXPIRES IN" },
  { title: "PORT", right: true },
  { title: "HITS", right: true },
  { title: "SOURCE" },
  // Last and never padded: free text of any length.
  { title: "REASON" },
];

/** One ban's cells; sources and reasons come from peers, feeds and the API: each escaped. */
export function banCells(r: BanRow, now: number, utc = false): string[] {
  return [
    printable(r.prefix),
    tableTime(r.first_seen, utc),
    r.expires_at === null ? "permanent" : tableTime(r.expires_at, utc),
    expiresIn(r.expires_at, now),
    r.port === null ? "-" : String(r.port),
    String(r.hits),
    printable(r.source),
    printable(r.reason ?? ""),
  ];
}

/**
 * Columns as wide as the widest cell among the header and the rows given
 * (the first page of a listing: a million rows are never held to measure them;
 * a later, wider cell pushes its line's next columns right).
 */
export function columnWidths(rows: readonly string[][]): number[] {
  return COLUMNS.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? "").length)));
}

function line(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((cell, i) => {
      const col = COLUMNS[i];
      if (i === COLUMNS.length - 1 || !col) return cell;
      const w = widths[i] ?? 0;
      return col.right ? cell.padStart(w) : cell.padEnd(w);
    })
    .join("  ")
    .trimEnd();
}

export const headerLine = (widths: readonly number[]): string => line(COLUMNS.map((c) => c.title), widths);
export const rowLine = (cells: readonly string[], widths: readonly number[]): string => line(cells, widths);
