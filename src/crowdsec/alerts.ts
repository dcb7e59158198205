import { formatPrefix, type Prefix } from "../net/address.js";
import { goSeconds } from "./go-duration.js";

/** The scenario our alerts name: CrowdSec's dashboards and profiles see it. */
export const SCENARIO = "iblock/trap-port";
// CrowdSec wants a duration for every decision: a ban with no end is sent as ten years.
const PERMANENT_MS = 10 * 365 * 24 * 3_600_000;

/** A trap ban waiting to be told to the Local API. */
export interface TrapBan {
  prefix: Prefix;
  port: number | null;
  /** ms since the epoch. */
  at: number;
  expiresAt: number | null;
}

const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * One alert of POST /v1/alerts (CrowdSec's models.Alert: every field it
 * requires), with the ban as its decision. The origin "crowdsec" is what
 * CrowdSec's own agent writes: its alerts list and console show them alike.
 */
export function alertOf(ban: TrapBan, now: number): Record<string, unknown> {
  const full = ban.prefix.length === (ban.prefix.family === 4 ? 32 : 128);
  const value = full ? ban.prefix.address : formatPrefix(ban.prefix);
  const scope = full ? "Ip" : "Range";
  const left = ban.expiresAt === null ? PERMANENT_MS : ban.expiresAt - now;
  const port = ban.port === null ? "unknown" : String(ban.port);
  const time = isoSeconds(ban.at);
  return {
    scenario: SCENARIO,
    scenario_hash: "",
    scenario_version: "",
    message: `${value} completed a TCP handshake to trap port ${port} (iblock)`,
    events_count: 1,
    start_at: time,
    stop_at: time,
    capacity: 0,
    leakspeed: "0",
    simulated: false,
    remediation: true,
    events: [{ timestamp: time, meta: [{ key: "dest_port", value: port }, { key: "source_ip", value }, { key: "service", value: "iblock" }] }],
    source: full ? { scope, value, ip: value } : { scope, value, range: value },
    decisions: [{ origin: "crowdsec", type: "ban", scope, value, duration: goSeconds(left), scenario: SCENARIO }],
  };
}
