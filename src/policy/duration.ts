const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** The longest ban with an end: beyond it, "permanent" (dates and nft timeouts both have limits). */
export const MAX_DURATION_MS = 3650 * UNIT_MS.d;

/** "90s", "15m", "24h", "7d" in ms; "permanent" is Infinity. Undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text === "permanent") return Infinity;
  const m = /^(\d{1,9})(s|m|h|d)$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  // Beyond ten years, say "permanent": dates and nft timeouts both have limits.
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

/** The inverse, for logs: the largest unit that divides evenly. */
export function formatDuration(ms: number): string {
  if (ms === Infinity) return "permanent";
  for (const unit of ["d", "h", "m"] as const) if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${Math.ceil(ms / 1000)}s`;
}

export interface BanTimes {
  banMs: number;
  multiplier: number;
  maxMs: number;
}

/**
 * How long the n-th ban of the same source lasts (n = 1 for the first):
 * ban_time × multiplier^(n-1), at most ban_time_max. Permanent stays permanent.
 */
export function banDuration(n: number, t: BanTimes): number {
  if (t.banMs === Infinity) return Infinity;
  const ms = t.banMs * Math.pow(t.multiplier, Math.max(0, n - 1));
  return Math.min(ms, t.maxMs);
}
