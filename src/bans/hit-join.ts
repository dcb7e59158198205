import { prefixKey, type Prefix } from "../net/address.js";
import type { BanRequest } from "./ban-request.js";

export interface HitJoinOptions {
  /** How long a listener hit without its port waits for the kernel's report of it. */
  holdMs: number;
  /** A listener hit and a kernel report of the same source within this long are one connection. */
  sameHitMs: number;
  /** Bound of each map kept here: a storm of sources cannot grow it further. */
  maxEntries: number;
}

export const DEFAULT_JOIN: HitJoinOptions = { holdMs: 1_000, sameHitMs: 30_000, maxEntries: 65_536 };

/**
 * The listener and the kernel route see the same connection; this makes them
 * one hit. Behind a redirect the listener only sees listen_port, while the
 * kernel route's report carries the trap port (its chain runs before NAT):
 * a listener hit without a port waits a moment for that report and takes its
 * port. Nothing here spawns or waits: `tick()` runs with the kernel drain.
 */
export class HitJoiner {
  /** Listener hits waiting for their port, by prefix key; insertion order is age order. */
  private readonly held = new Map<string, { prefix: Prefix; count: number; at: number }>();
  /** "key|port" (0: unknown) of listener hits counted, so the kernel's report does not count again. */
  private readonly listened = new Map<string, number>();
  /** Kernel reports by prefix key, for a listener hit that comes after its report. */
  private readonly reported = new Map<string, { port: number; at: number }>();

  constructor(
    private readonly submit: (req: BanRequest, count: number) => void,
    private readonly opts: HitJoinOptions = DEFAULT_JOIN,
  ) {}

  /**
   * `kernelRoute`: the kernel route is on, so it saw this connection too (and
   * banned it there: the hit's route is "kernel"); a port unknown here (behind
   * a redirect) comes with its report.
   */
  listenerHit(prefix: Prefix, port: number | undefined, kernelRoute: boolean, now = Date.now()): void {
    const key = prefixKey(prefix);
    const route = kernelRoute ? "kernel" : "listener";
    if (port !== undefined || !kernelRoute) {
      remember(this.listened, `${key}|${port ?? 0}`, now, this.opts.maxEntries);
      this.submit({ prefix, port, source: "trap", route }, 1);
      return;
    }
    const report = this.reported.get(key);
    if (report && now - report.at < this.opts.holdMs) {
      // The kernel was quicker: this is the connection it reported, counted already.
      this.submit({ prefix, port: report.port, source: "trap" }, 0);
      return;
    }
    const held = this.held.get(key);
    if (held) held.count++;
    else if (this.held.size >= this.opts.maxEntries) this.submit({ prefix, source: "trap", route }, 1); // full: go on without the port
    else this.held.set(key, { prefix, count: 1, at: now });
  }

  kernelHit(prefix: Prefix, port: number, syn: boolean, now = Date.now()): void {
    const key = prefixKey(prefix);
    remember(this.reported, key, { port, at: now }, this.opts.maxEntries);
    const held = this.held.get(key);
    if (held) {
      this.held.delete(key);
      remember(this.listened, `${key}|${port}`, now, this.opts.maxEntries);
      this.submit({ prefix, port, source: "trap", route: "kernel" }, held.count);
      return;
    }
    const seen = this.listened.get(`${key}|${port}`) ?? this.listened.get(`${key}|0`);
    const counted = seen !== undefined && now - seen < this.opts.sameHitMs;
    // Counted: the connection is the listener's, and dates from its hit, so an
    // unban between that hit and this (later) report is not undone by it.
    this.submit({ prefix, port, source: syn ? "syn" : "kernel", ...(counted ? { at: seen } : {}) }, counted ? 0 : 1);
  }

  /** Let go of listener hits whose report did not come (port unknown), and forget old ones. */
  tick(now = Date.now()): void {
    for (const [key, h] of this.held) {
      if (now - h.at < this.opts.holdMs) break; // the rest are younger
      this.held.delete(key);
      remember(this.listened, `${key}|0`, now, this.opts.maxEntries);
      // No report came: the kernel route did not see it.
      this.submit({ prefix: h.prefix, source: "trap", route: "listener" }, h.count);
    }
    for (const [k, t] of this.listened) if (now - t > this.opts.sameHitMs) this.listened.delete(k);
    for (const [k, r] of this.reported) if (now - r.at > this.opts.holdMs) this.reported.delete(k);
  }

  get size(): { held: number; listened: number; reported: number } {
    return { held: this.held.size, listened: this.listened.size, reported: this.reported.size };
  }
}

/** Set `key` as the newest entry; past `max`, the oldest goes. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}
