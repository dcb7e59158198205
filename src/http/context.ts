import type { Operations } from "../control/operations.js";
import type { BanCounts } from "../metrics/counts.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Policy } from "../policy/policy.js";
import type { Store } from "../store/store.js";
import type { ApiQueries } from "./queries.js";
import type { EventStream } from "./sse.js";
import { BadRequest } from "./bad-request.js";

export interface PartHealth {
  ok: boolean;
  detail: string;
}

/** What the routes read; everything here is the daemon's own, in memory or by index. */
export interface HttpContext {
  store: Store;
  queries: ApiQueries;
  ops: Operations;
  policy: Policy;
  counts: BanCounts;
  metrics: Metrics;
  stream: EventStream;
  health(): Record<string, PartHealth>;
  /** Changes since start, and when the last was: the blocklist's ETag and header. */
  version(): { etag: string; updated: Date };
  /** sha256 of the bearer token; undefined: no token_file, changes refused. */
  token: Buffer | undefined;
  /** sha256 of the read token; undefined: no read_token_file, reads are open. */
  readToken: Buffer | undefined;
  rateLimit: number;
}

/** "1h" (that long ago) or an ISO 8601 date, as ms since the epoch; as the CLI's --since. */
export function parseSince(text: string, parseDuration: (t: string) => number | undefined, now = Date.now()): number {
  const ms = parseDuration(text);
  if (ms !== undefined && ms !== Infinity) return now - ms;
  const date = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(date)) return date;
  throw new BadRequest(`bad since ${JSON.stringify(text)}: expected a duration ("1h", "7d") or an ISO 8601 date`);
}

/** A whole number query parameter within bounds, or the default. */
export function intParam(value: unknown, name: string, def: number, min: number, max: number): number {
  if (value === undefined || value === "") return def;
  const n = typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new BadRequest(`bad ${name} ${JSON.stringify(value)}: expected a whole number, ${min}-${max}`);
  return n;
}
