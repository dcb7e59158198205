/** What became of one report. */
export type ReportOutcome =
  | { kind: "sent" }
  /** 429: nothing more until `retryAfterMs` has passed. */
  | { kind: "rate-limited"; retryAfterMs: number }
  /** Another 4xx: this report will never be taken (a bad key, an address they refuse). */
  | { kind: "refused"; status: number; detail: string }
  /** No answer, or a 5xx: worth another try. */
  | { kind: "failed"; detail: string };

/** A trap ban, as AbuseIPDB takes it. */
export interface AbuseReport {
  address: string;
  port: number | null;
  /** When the scanner was banned, ms since the epoch. */
  at: number;
}

// Category 14: "Port Scan" (https://www.abuseipdb.com/categories).
const PORT_SCAN = "14";
const TIMEOUT_MS = 15_000;
// Their answer is for the log: a few hundred bytes of it are enough.
const DETAIL_BYTES = 300;
// Without Retry-After, a minute; with one, at most a day (their budget's window).
const DEFAULT_RETRY_MS = 60_000;
const MAX_RETRY_MS = 86_400_000;

/** The form AbuseIPDB's v2 report takes: the trap port in the comment, the ban's time as the attack's. */
export function reportForm(r: AbuseReport): URLSearchParams {
  const where = r.port === null ? "a trap port" : `trap port ${r.port}/tcp`;
  return new URLSearchParams({
    ip: r.address,
    categories: PORT_SCAN,
    comment: `Completed a TCP handshake to ${where}, which no service listens on (iblock)`,
    timestamp: new Date(r.at).toISOString(),
  });
}

/** Retry-After as seconds or an HTTP date, in ms from `now`. */
export function retryAfterMs(header: string | null, now: number): number {
  const ms = header === null ? NaN : /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 1000), MAX_RETRY_MS) : DEFAULT_RETRY_MS;
}

/** The start of a body, read no further. */
async function start(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunk = await reader.read().catch(() => ({ value: undefined }));
  await reader.cancel().catch(() => undefined);
  return Buffer.from(chunk.value ?? new Uint8Array()).toString("utf8", 0, DETAIL_BYTES);
}

/**
 * POST one report. Never follows a redirect: the key goes with the request,
 * and a redirect would carry it to wherever the answer points.
 */
export async function sendReport(url: string, key: string, r: AbuseReport, now = Date.now()): Promise<ReportOutcome> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { Key: key, Accept: "application/json" },
      body: reportForm(r),
      redirect: "error",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    return { kind: "failed", detail: cause ? `${(e as Error).message}: ${cause}` : (e as Error).message };
  }
  const detail = await start(res);
  if (res.ok) return { kind: "sent" };
  if (res.status === 429) return { kind: "rate-limited", retryAfterMs: retryAfterMs(res.headers.get("retry-after"), now) };
  if (res.status >= 400 && res.status < 500) return { kind: "refused", status: res.status, detail };
  return { kind: "failed", detail: `HTTP ${res.status} ${detail}` };
}
