import { isSafeOutboundUrl, OUTBOUND_URL_EXPECTED } from "../net/outbound-url.js";
import { whole } from "../validate.js";
import * as z from "../zod.js";

/** AbuseIPDB's API v2 report endpoint. */
export const ABUSEIPDB_REPORT_URL = "https://api.abuseipdb.com/api/v2/report";

/** What each key of [report] takes, in our words, with an example (config errors say this). */
export const REPORT_KEY_HELP: Record<string, { expected: string; example: string }> = {
  key_file: { expected: "the path of a file holding the AbuseIPDB API key (mode 0600)", example: 'key_file = "/etc/iblock/abuseipdb-key"' },
  url: { expected: "an https:// URL (http:// only to loopback)", example: `url = "${ABUSEIPDB_REPORT_URL}"` },
  daily_budget: { expected: "a whole number of reports per 24 hours, 1-100000", example: "daily_budget = 1000" },
};

const outboundUrl = z.string().check(z.refine(isSafeOutboundUrl, OUTBOUND_URL_EXPECTED));

/** The [report] section: present means trap bans are reported to AbuseIPDB. */
export const reportSchema = z.strictObject({
  key_file: z.string().check(z.minLength(1)),
  url: z._default(outboundUrl, ABUSEIPDB_REPORT_URL),
  // Their free tier: 1,000 reports a day.
  daily_budget: z._default(whole(1, 100_000), 1000),
});

export type ReportConfig = z.infer<typeof reportSchema>;
