import { printable } from "./printable.js";

// The dates ISO 8601 writes with four digits and no sign: 1970 to the end of 9999.
// Beyond ±8.64e15 ms toISOString throws, and one value from Redis must not stop a command.
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A time in ms since the epoch, as a number or as digits (Redis keeps text),
 * when it is one: a whole number from 1970 to 9999; else undefined.
 */
export function timeMs(value: number | string): number | undefined {
  const ms = typeof value === "number" ? value : /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= LATEST_MS ? ms : undefined;
}

/**
 * Every date shown or answered: ISO 8601, or "invalid time (...)" with what
 * came, escaped, for a value from a peer, a feed, Redis or the store that is
 * no date. Absent (null, undefined) stays absent.
 */
export function isoTime(value: number | string): string;
export function isoTime(value: number | string | null): string | null;
export function isoTime(value: number | string | null | undefined): string | null | undefined;
export function isoTime(value: number | string | null | undefined): string | null | undefined {
  if (value === null || value === undefined) return value;
  const ms = timeMs(value);
  return ms === undefined ? `invalid time (${printable(String(value).slice(0, 40))})` : new Date(ms).toISOString();
}

/** The time of day (HH:MM:SS, UTC) of a date; what is no date says so, as isoTime does. */
export function timeOfDay(value: number | string): string {
  const ms = timeMs(value);
  return ms === undefined ? isoTime(value) : new Date(ms).toISOString().slice(11, 19);
}
