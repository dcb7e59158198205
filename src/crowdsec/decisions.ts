import { parseGoDuration } from "./go-duration.js";

/** One decision of the stream as iblock may use it: a ban of an Ip or a Range. */
export interface StreamDecision {
  /** The address or CIDR, not yet parsed (our parser judges it, as a feed's line). */
  value: string;
  /** ms left; may be 0 or negative for a deleted one. */
  leftMs: number;
  scenario: string;
}

/** Why a decision of the stream was left alone, counted. */
export interface IgnoredDecisions {
  /** A scope other than Ip or Range (Country, AS, a username...). */
  scope: number;
  /** A type other than ban (captcha, throttle...). */
  type: number;
  /** Not an object with string fields, or a duration Go would not write. */
  malformed: number;
}

export interface StreamDelta {
  new: StreamDecision[];
  deleted: StreamDecision[];
  ignored: IgnoredDecisions;
}

// Scopes iblock can ban; CrowdSec writes them "Ip" and "Range" (its bouncers compare without case).
const SCOPES = new Set(["ip", "range"]);
const MAX_SCENARIO = 200;

const field = (o: Record<string, unknown>, key: string): string | undefined => (typeof o[key] === "string" ? o[key] : undefined);

function readList(list: unknown, what: string, ignored: IgnoredDecisions): StreamDecision[] {
  // Go writes an empty list as null.
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw new Error(`"${what}" is not a list of decisions`);
  const out: StreamDecision[] = [];
  for (const item of list as unknown[]) {
    if (typeof item !== "object" || item === null) {
      ignored.malformed++;
      continue;
    }
    const o = item as Record<string, unknown>;
    const [scope, type, value, duration] = [field(o, "scope"), field(o, "type"), field(o, "value"), field(o, "duration")];
    const leftMs = duration === undefined ? undefined : parseGoDuration(duration);
    if (scope === undefined || type === undefined || value === undefined || leftMs === undefined) ignored.malformed++;
    else if (!SCOPES.has(scope.toLowerCase())) ignored.scope++;
    else if (type.toLowerCase() !== "ban") ignored.type++;
    else out.push({ value, leftMs, scenario: (field(o, "scenario") ?? "").slice(0, MAX_SCENARIO) });
  }
  return out;
}

/**
 * A reply of /v1/decisions/stream: `{"new": [...], "deleted": [...]}`.
 * Throws when the reply is not that shape at all (nothing of it is used);
 * decisions iblock cannot ban are counted, not thrown.
 */
export function readStreamReply(body: string): StreamDelta {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (e) {
    throw new Error(`the Local API's reply is not JSON (${(e as Error).message.slice(0, 120)})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error('the Local API\'s reply is not an object with "new" and "deleted"');
  const o = doc as Record<string, unknown>;
  const ignored: IgnoredDecisions = { scope: 0, type: 0, malformed: 0 };
  return { new: readList(o.new, "new", ignored), deleted: readList(o.deleted, "deleted", ignored), ignored };
}
