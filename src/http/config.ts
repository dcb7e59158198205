import { isIP } from "node:net";
import { configError } from "../errors.js";
import { whole } from "../validate.js";
import * as z from "../zod.js";

export const DEFAULT_HTTP_LISTEN = "127.0.0.1:9107";

/** "127.0.0.1:9107", "[::1]:9107": a literal address (never a name to resolve) and a port. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!host || isIP(host) === 0 || !(port >= 1 && port <= 65535)) return undefined;
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return isIP(host) === 4 ? host.startsWith("127.") : host === "::1";
}

const nonEmpty = z.string().check(z.minLength(1));

/** The [http] section: the metrics, API, blocklist and dashboard server. Off unless enabled. */
const httpSection = z.strictObject({
  enabled: z._default(z.boolean(), false),
  listen: z._default(z.string(), DEFAULT_HTTP_LISTEN),
  /** PEM files; both or neither. With them the server speaks HTTPS. */
  tls_cert: z.optional(nonEmpty),
  tls_key: z.optional(nonEmpty),
  /** Plain HTTP on an address other than loopback: only when someone says so. */
  allow_insecure_remote: z._default(z.boolean(), false),
  /** The bearer token for ban and unban; without it those routes are off. */
  token_file: z.optional(nonEmpty),
  /** A bearer token for reading; with it every route but /metrics and the dashboard's files needs it (or token_file's). */
  read_token_file: z.optional(nonEmpty),
  /** Ban and unban requests together, per minute and client address. */
  rate_limit: z._default(whole(1, 100_000), 60),
});

export const httpSchema = z._default(httpSection, { enabled: false, listen: DEFAULT_HTTP_LISTEN, allow_insecure_remote: false, rate_limit: 60 });

export const HTTP_KEYS: readonly string[] = Object.keys(httpSection.shape);

export type HttpConfig = z.infer<typeof httpSchema>;

/** What the schema cannot say alone: a listen address we can bind, and no plain HTTP to the world by default. */
export function checkHttpConfig(c: HttpConfig, source: string): void {
  const where = `config ${source}: [http]`;
  const listen = parseListen(c.listen);
  if (!listen) {
    throw configError(`${where} key "listen": value ${JSON.stringify(c.listen)} is not valid: expected an IP address and a port, e.g. "127.0.0.1:9107" or "[::1]:9107"`);
  }
  if ((c.tls_cert === undefined) !== (c.tls_key === undefined)) {
    throw configError(`${where}: tls_cert and tls_key go together: give both PEM files or neither`);
  }
  if (!isLoopback(listen.host) && c.tls_cert === undefined && !c.allow_insecure_remote) {
    throw configError(
      `${where} key "listen": ${c.listen} is not a loopback address: give tls_cert and tls_key, or set allow_insecure_remote = true to serve plain HTTP beyond this host`,
    );
  }
}
