import { isIP } from "node:net";
// Types only: the CLI checks the config with this file and must not load ioredis.
import type { RedisOptions } from "ioredis";

/**
 * Where the fleet's Redis is, from `[cluster] redis`. ioredis reads plain
 * redis:// and rediss:// URLs itself; Sentinel it takes only as options, so
 * the Sentinel URL form is ours and is turned into those options here.
 */
export type RedisTarget =
  | { kind: "url"; url: string; tls?: RedisOptions["tls"] }
  | { kind: "sentinel"; options: RedisOptions }
  | { kind: "cluster"; nodes: { host: string; port: number }[]; options: RedisOptions };

export const REDIS_EXPECTED =
  'a URL "redis://[user:password@]host:port/db", "rediss://..." (TLS) or "redis-sentinel://[user:password@]host:26379,host:26379/MASTER[/db]" ("rediss-sentinel://" for TLS) or "redis-cluster://[user:password@]host:port,host:port" ("rediss-cluster://" for TLS)';

const SENTINEL_PORT = 26379;
// Sentinel itself takes any name without spaces; ours is the fleet-name alphabet, plenty for a master group.
const MASTER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$/;
const SENTINEL_QUERY = ["sentinel_user", "sentinel_password"];

/** The value with every password replaced by "***", for messages. */
export function maskRedisPassword(value: string): string {
  // The query first, then the login up to the authority's last "@": a password may hold an "@" of its own.
  return value.replace(/([?&])([^&=#]*)=([^&]*)/g, (all, sep: string, key: string) => (isPasswordKey(key) ? `${sep}${key}=***` : all)).replace(/^([a-z-]+:\/\/[^:@/?]*:)[^/?]*@/, "$1***@");
}

/** sentinel_password, and whatever ioredis would take as one (password, sentinelPassword), however it is spelt or percent-encoded. */
function isPasswordKey(key: string): boolean {
  let name = key;
  try {
    name = decodeURIComponent(key.replaceAll("+", " "));
  } catch {
    // Undecodable: shown as it is written, its value masked all the same.
    return true;
  }
  return /pass/i.test(name);
}

/** Parsed, or an Error saying what is wrong and what is expected (the value itself is the caller's to show). */
export function parseRedisTarget(value: string): RedisTarget {
  const scheme = /^([a-z-]+):\/\//.exec(value)?.[1];
  if (scheme === "redis" || scheme === "rediss") {
    if (!/^rediss?:\/\/\S+$/.test(value)) throw new Error(`expected ${REDIS_EXPECTED}`);
    // ioredis copies every query parameter into its options: ?password= would hold a password where no check looks.
    if (value.includes("?")) throw new Error(`a redis:// or rediss:// URL takes no parameters ("?..."): put a password in password_file or before the "@"; expected ${REDIS_EXPECTED}`);
    return { kind: "url", url: value };
  }
  if (scheme === "redis-sentinel" || scheme === "rediss-sentinel") return { kind: "sentinel", options: parseSentinel(value, scheme === "rediss-sentinel") };
  if (scheme === "redis-cluster" || scheme === "rediss-cluster") return parseCluster(value, scheme === "rediss-cluster");
  throw new Error(`expected ${REDIS_EXPECTED}`);
}

function parseSentinel(value: string, tls: boolean): RedisOptions {
  const m = /^[a-z-]+:\/\/(?:([^@/]*)@)?([^/?#@]+)\/([^/?#]*)(?:\/([^/?#]*))?\/?(?:\?([^#]*))?$/.exec(value);
  if (!m) throw new Error(`expected ${REDIS_EXPECTED}`);
  const [, auth, hostList = "", name = "", db, query] = m;
  if (!MASTER_NAME.test(name)) throw new Error(`master name "${name}" is not 1-64 letters, digits, "_", "-" or "."; expected ${REDIS_EXPECTED}`);
  const options: RedisOptions = { name, role: "master", sentinels: hostList.split(",").map(sentinelAddress) };
  if (db !== undefined && db !== "") {
    if (!/^\d{1,5}$/.test(db)) throw new Error(`database "${db}" is not a number; expected ${REDIS_EXPECTED}`);
    options.db = Number(db);
  }
  Object.assign(options, parseAuth(auth));
  for (const [key, v] of new URLSearchParams(query ?? "")) {
    if (!SENTINEL_QUERY.includes(key)) throw new Error(`unknown parameter "${key}" (known: ${SENTINEL_QUERY.join(", ")})`);
    if (key === "sentinel_user") options.sentinelUsername = v;
    else options.sentinelPassword = v;
  }
  if (tls) {
    // TLS to the sentinels and to the master they name.
    options.tls = {};
    options.sentinelTLS = {};
    options.enableTLSForSentinelMode = true;
  }
  return options;
}

// A Cluster has one database, 0, and finds every node from any one of those listed.
function parseCluster(value: string, tls: boolean): RedisTarget {
  const m = /^[a-z-]+:\/\/(?:([^@/]*)@)?([^/?#@]+)\/?$/.exec(value);
  if (!m) throw new Error(`expected ${REDIS_EXPECTED} (a cluster has no database number and takes no parameters)`);
  const [, auth, hostList = ""] = m;
  const options: RedisOptions = { ...parseAuth(auth) };
  if (tls) options.tls = {};
  return { kind: "cluster", nodes: hostList.split(",").map((item) => hostPort(item, "cluster node", undefined)), options };
}

function parseAuth(auth: string | undefined): Pick<RedisOptions, "username" | "password"> {
  if (auth === undefined) return {};
  const colon = auth.indexOf(":");
  if (colon === -1) throw new Error(`the part before "@" is not "user:password" or ":password"; expected ${REDIS_EXPECTED}`);
  const username = decode(auth.slice(0, colon), "user");
  return { ...(username ? { username } : {}), password: decode(auth.slice(colon + 1), "password") };
}

const sentinelAddress = (item: string): { host: string; port: number } => hostPort(item, "sentinel", SENTINEL_PORT);

/** host:port, [v6]:port, or host alone when there is a default port. */
function hostPort(item: string, what: string, defaultPort: number | undefined): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(item);
  const host = m?.[1] ?? m?.[2] ?? "";
  const badHost = m?.[1] !== undefined ? isIP(host) !== 6 : !(isIP(host) === 4 || HOSTNAME.test(host));
  if (!m || badHost || (m[3] === undefined && defaultPort === undefined)) {
    throw new Error(`${what} "${item}" is not host:port (an IPv6 address in brackets); expected ${REDIS_EXPECTED}`);
  }
  const port = m[3] === undefined ? (defaultPort as number) : Number(m[3]);
  if (!(port >= 1 && port <= 65535)) throw new Error(`${what} "${item}": port ${port} is not 1-65535`);
  return { host, port };
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new Error(`the ${what} is not valid percent-encoding; expected ${REDIS_EXPECTED}`);
  }
}

/** Which passwords the target holds: Redis's own (the login part) and Sentinel's (sentinel_password). */
export function passwordsIn(target: RedisTarget): { redis: boolean; sentinel: boolean } {
  if (target.kind === "url") {
    // A URL that WHATWG URL cannot read, ioredis cannot either: it fails at the connect.
    const password = URL.canParse(target.url) ? new URL(target.url).password : "";
    return { redis: password !== "", sentinel: false };
  }
  return { redis: (target.options.password ?? "") !== "", sentinel: (target.options.sentinelPassword ?? "") !== "" };
}

/**
 * How to reach the fleet's Redis: the URL as configured, and what the files
 * add to it. Plain data (strings): the catch-up's worker thread gets a copy.
 */
export interface RedisAccess {
  url: string;
  /** From password_file; a password in the URL is already in `url`. */
  password?: string;
  /** PEM texts from tls_ca_file, tls_cert_file and tls_key_file (rediss schemes only). */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** The target with the password and the TLS files of `access` applied. */
export function withAccess(target: RedisTarget, access: RedisAccess): RedisTarget {
  const withPass = withPassword(target, access.password);
  return access.tls === undefined ? withPass : withTls(withPass, access.tls);
}

/**
 * Our CA and client certificate over ioredis's defaults: to the data nodes
 * and, behind Sentinel, to the sentinels too (one TLS setup for the fleet's
 * Redis). The host name is checked against the certificate as always.
 */
function withTls(target: RedisTarget, tls: NonNullable<RedisAccess["tls"]>): RedisTarget {
  if (target.kind === "url") return { ...target, tls };
  const options: RedisOptions = { ...target.options, tls: { ...target.options.tls, ...tls } };
  if (target.kind === "sentinel") options.sentinelTLS = { ...target.options.sentinelTLS, ...tls };
  return { ...target, options };
}

/** The target with Redis's password (password_file) set: in the URL's login part, or in the options. */
export function withPassword(target: RedisTarget, password: string | undefined): RedisTarget {
  if (password === undefined) return target;
  if (target.kind === "url") {
    // Set as a field, not spliced into the text: URL percent-encodes it, ioredis decodes it.
    const url = new URL(target.url);
    url.password = password;
    return { ...target, url: url.href };
  }
  return { ...target, options: { ...target.options, password } };
}
