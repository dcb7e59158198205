// Helpers for the ban lifecycle tests (expiry, reload, drift): signals to the
// running daemon, the ban times `iblock list --json` reports, and log lines
// that appear after a given moment.
import assert from "node:assert/strict";
import type { BanEntry, Daemon } from "./daemon.js";

/** Where the log is now: pass to `d.waitForLine(re, ms, from)` to see only later lines. */
export const logMark = (d: Daemon): number => d.lines.length;

/** Send `signal` to the daemon itself (`ip netns exec` execs in place, so the pid is the daemon's). */
export function signalDaemon(d: Daemon, signal: NodeJS.Signals): void {
  const pid = d.proc.pid;
  assert.ok(pid !== undefined && d.running, `the daemon is running\n${d.tail()}`);
  process.kill(pid, signal);
}

/** SIGHUP the daemon and wait for its answer: "SIGHUP: config reloaded" or "SIGHUP: keeping the old config". */
export async function reload(d: Daemon, timeoutMs = 10_000): Promise<string> {
  const from = logMark(d);
  signalDaemon(d, "SIGHUP");
  return d.waitForLine(/SIGHUP: (config reloaded|keeping the old config|could not apply)/, timeoutMs, from);
}

/** A listed ban's "expires" as epoch ms: Infinity for null (permanent); fails on anything else. */
function expiresAt(e: BanEntry): number {
  const expires = e.expires;
  if (expires === null) return Infinity;
  assert.ok(typeof expires === "string", `expires is an ISO time or null: ${JSON.stringify(e)}`);
  const at = Date.parse(expires);
  assert.ok(Number.isFinite(at), `expires is an ISO time: ${JSON.stringify(e)}`);
  return at;
}

/** Milliseconds a listed ban lasts from its first hit to its end (Infinity when permanent). */
export function banLengthMs(e: BanEntry): number {
  const end = expiresAt(e);
  const firstSeen = e.first_seen;
  assert.ok(typeof firstSeen === "string" && Number.isFinite(Date.parse(firstSeen)), `first_seen is an ISO time: ${JSON.stringify(e)}`);
  return end - Date.parse(firstSeen);
}

/** Milliseconds from now until a listed ban ends (Infinity when permanent). */
export function remainingMs(e: BanEntry): number {
  return expiresAt(e) - Date.now();
}
