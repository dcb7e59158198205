// Assertions shared by the integration tests: "dropped" means a connect to the
// service gets no answer at all (not refused, not reset), "served" means it connects.
import assert from "node:assert/strict";
import type { BanEntry, Daemon, Instance } from "./daemon.js";
import type { Topology } from "./netns.js";
import { waitUntil } from "./proc.js";

/** How long a connect to the service may take on the veth before it counts as unanswered. */
export const NO_ANSWER_MS = 500;

const context = (d: Daemon | undefined): string => (d ? `\n${d.tail()}` : "");

/** The very next connect from `src` to the service gets no answer. */
export async function assertDropped(topo: Topology, src: string, d?: Daemon, why = ""): Promise<void> {
  const r = await topo.probeService(src, NO_ANSWER_MS);
  assert.equal(r, "timeout", `${src} should get no answer from the service${why ? ` (${why})` : ""}, got "${r}"${context(d)}`);
}

/** `src` completes a handshake with trap `port` (the daemon may reset it at once). */
export async function assertTrapHit(topo: Topology, src: string, port = 23, d?: Daemon): Promise<void> {
  const r = await topo.hitTrap(src, port);
  assert.ok(r === "connected" || r === "reset", `${src} completes a handshake with trap port ${port}, got "${r}"${context(d)}`);
}

/**
 * `src` reaches trap `port` and gets an answer, whatever it is: an allowed
 * source is left to the host's stack by the kernel route (refused where
 * nothing listens), a listener resets it. Not dropped, that is.
 */
export async function assertTrapAnswered(topo: Topology, src: string, port = 23, d?: Daemon): Promise<void> {
  const r = await topo.hitTrap(src, port);
  assert.ok(r === "connected" || r === "reset" || r === "refused", `${src} gets an answer from trap port ${port}, got "${r}"${context(d)}`);
}

/** A connect from `src` to the service succeeds. */
export async function assertServed(topo: Topology, src: string, d?: Daemon, why = ""): Promise<void> {
  const r = await topo.probeService(src, 2000);
  assert.equal(r, "connected", `${src} should reach the service${why ? ` (${why})` : ""}, got "${r}"${context(d)}`);
}

/**
 * For routes that ban asynchronously (the listener): within `timeoutMs`, connects
 * from `src` to the service stop being answered.
 */
export async function waitDropped(topo: Topology, src: string, d?: Daemon, timeoutMs = 10_000): Promise<void> {
  try {
    await waitUntil(async () => (await topo.probeService(src, 200)) === "timeout", {
      timeoutMs,
      intervalMs: 20,
      what: `${src} to be dropped`,
    });
  } catch (e) {
    assert.fail(`${(e as Error).message}${context(d)}`);
  }
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The daemon's log line for banning `addr`: "blocking ADDR" where ADDR is the
 * address itself, or the address with a /len (not a longer address that starts alike).
 */
export function blockingRe(addr: string): RegExp {
  return new RegExp(`blocking ${escape(addr)}(?![0-9a-fA-F.:])`);
}

/** The v6 log line for an address banned as its /64 (either "2001:db8:0:1::2" or "2001:db8:0:1::/64"). */
export function blockingRe64(addr: string, net64: string): RegExp {
  return new RegExp(`blocking (${escape(addr)}|${escape(net64)}/64)(?![0-9a-fA-F.:])`);
}

/** Log lines matching `re`. */
export function linesMatching(d: Daemon, re: RegExp): string[] {
  return d.lines.filter((l) => re.test(l));
}

/** Wait until `iblock list --json` has an entry with this prefix. */
export async function waitListed(inst: Instance, prefix: string, timeoutMs = 10_000): Promise<BanEntry> {
  return waitUntil(async () => (await inst.list()).find((e) => e.prefix === prefix), {
    timeoutMs,
    intervalMs: 100,
    what: `"${prefix}" in iblock list --json`,
  });
}

/** Prefixes listed more than once. */
export function duplicates(entries: readonly BanEntry[]): string[] {
  const seen = new Map<string, number>();
  for (const e of entries) seen.set(e.prefix, (seen.get(e.prefix) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([p]) => p);
}

/** Within `timeoutMs`, connects from `src` to the service are answered again. */
export async function waitServed(topo: Topology, src: string, d?: Daemon, timeoutMs = 10_000): Promise<void> {
  try {
    await waitUntil(async () => (await topo.probeService(src, 200)) === "connected", {
      timeoutMs,
      intervalMs: 20,
      what: `${src} to be served again`,
    });
  } catch (e) {
    assert.fail(`${(e as Error).message}${context(d)}`);
  }
}
