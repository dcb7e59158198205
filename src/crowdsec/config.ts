import { isSafeOutboundUrl, OUTBOUND_URL_EXPECTED } from "../net/outbound-url.js";
import { whole } from "../validate.js";
import * as z from "../zod.js";

/**
 * `[crowdsec]`: trap bans sent to a CrowdSec Local API as alerts, with the
 * credentials of a machine (`cscli machines add`). Off when absent.
 */
export const crowdsecSchema = z.strictObject({
  // The machine's password and token go with every request: https://, or http:// only to loopback.
  url: z._default(z.string().check(z.refine(isSafeOutboundUrl, `${OUTBOUND_URL_EXPECTED}: the Local API`)), "http://127.0.0.1:8080"),
  /** The machine's name (its machine_id). */
  login: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,64}$/, "expected the machine's name: 1-64 letters, digits, '.', '_' or '-'")),
  /** A 0600 file holding the machine's password. */
  password_file: z.string().check(z.minLength(1)),
  /** Alerts waiting to be sent; beyond it new ones are dropped (counted, logged once). */
  max_queue: z._default(whole(1, 1_000_000), 10_000),
});

export type CrowdsecConfig = z.infer<typeof crowdsecSchema>;
