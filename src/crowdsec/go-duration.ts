// Go's time.Duration text, as CrowdSec writes a decision's time left:
// "3h59m59.439437443s", "-18.357295ms", "4h", "1.5h", "300us".
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const WHOLE = /^[-+]?(?:\d{1,20}(?:\.\d{0,20})?(?:ns|us|µs|μs|ms|s|m|h))+$/;
const PART = /(\d{1,20}(?:\.\d{0,20})?)(ns|us|µs|μs|ms|s|m|h)/g;
// Go's Duration holds at most about 292 years; more is not a duration Go wrote.
const MAX_MS = 292 * 365.25 * 24 * 3_600_000;

/** Milliseconds (negative: already past), or undefined when `text` is no Go duration. "0" is zero. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0" || text === "-0" || text === "+0") return 0;
  if (text.length > 64 || !WHOLE.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] ?? NaN);
  if (!Number.isFinite(ms) || ms > MAX_MS) return undefined;
  return text.startsWith("-") ? -ms : ms;
}

/** A duration as Go reads it, in whole seconds (at least one). */
export const goSeconds = (ms: number): string => `${Math.max(1, Math.ceil(ms / 1000))}s`;
