import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isAbsolute, join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { describeTomlError, KEY_HELP } from "./config-keys.js";
import { clusterConfig, clusterSchema, type ClusterConfig } from "./cluster/config.js";
import { maskRedisPassword } from "./cluster/redis-target.js";
import { configError } from "./errors.js";
import { crowdsecSchema } from "./crowdsec/config.js";
import { describeFeedIssue, feedsSchema } from "./feeds/config.js";
import { checkHooksConfig, hooksSchema } from "./hooks/config.js";
import { checkHttpConfig, HTTP_KEYS, httpSchema } from "./http/config.js";
import { parsePrefix } from "./net/address.js";
import { formatDuration, parseDuration } from "./policy/duration.js";
import { reportSchema } from "./report/config.js";
import { duration, whole } from "./validate.js";
import * as z from "./zod.js";

/** The trap ports of the original iblock: services scanners look for that few hosts serve. */
export const DEFAULT_TRAP_PORTS = [
  21, 23, 111, 135, "137-139", 445, 1433, 3306, 3389, 5432, "6000-6010", 7890, 9999, 25565, 27019,
];

export const DEFAULT_CONFIG_FILE = "/etc/iblock.toml";

const BSD = process.platform === "openbsd" || process.platform === "freebsd";

const portNumber = whole(1, 65535);
const portItem = z.union([
  portNumber,
  z.string().check(z.regex(/^\d{1,5}(-\d{1,5})?$/, 'expected a port number or a range "a-b"')),
]);

const cidr = z.string().check(
  z.refine(
    (s) => {
      try {
        parsePrefix(s);
        return true;
      } catch {
        return false;
      }
    },
    { message: "expected an address or CIDR with no host bits set, e.g. 192.0.2.0/24" },
  ),
);

const nonEmpty = z.string().check(z.minLength(1));

const schema = z.strictObject({
  firewall: z._default(z.enum(["nftables", "pf", "none"]), BSD ? "pf" : "nftables"),
  // PF's limit is 31 characters; nftables names cannot start with a digit or "-".
  table: z._default(
    z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,30}$/, 'expected 1-31 letters, digits, "_", "-" or ".", starting with a letter or "_"')),
    "iblocked",
  ),
  trap_ports: z._default(z.array(portItem).check(z.minLength(1)), DEFAULT_TRAP_PORTS),
  // Default: "redirect" on nftables (the kernel answers trap ports; iblock holds none a service may want later), else "direct".
  listen: z.optional(z.enum(["direct", "redirect"])),
  listen_port: z._default(portNumber, 2507),
  listen_addresses: z.optional(z.array(z.string().check(z.refine((s) => isIP(s) !== 0, "expected an IP address")))),
  state_dir: z._default(nonEmpty, BSD ? "/var/db/iblock" : "/var/lib/iblock"),
  allow: z._default(z.array(cidr), []),
  /** The group that may read the store (a munin plugin): state_dir and its files are given to it. */
  group: z.optional(
    z.union([
      z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, 'expected a group name like "munin" or a gid')),
      z.number().check(z.int(), z.minimum(0)),
    ]),
  ),
  syslog: z._default(z.boolean(), false),
  /** Where logger(1) sends syslog lines; default its own (/dev/log). */
  syslog_socket: z.optional(nonEmpty),
  /** Put in front of every firewall command, e.g. ["/usr/bin/doas", "-n"]; -n makes a misconfigured doas fail, not hang. */
  command_prefix: z._default(z.array(nonEmpty), []),
  pfctl: z._default(nonEmpty, "/sbin/pfctl"),
  /** The file PF loads the table from at boot (`iblock setup pf`, `iblock export`). */
  persist_file: z.optional(nonEmpty),
  /** `iblock setup pf`: also let PF ban by itself (max-src-conn-rate ... overload). */
  pf_overload: z._default(z.boolean(), false),
  kernel_route: z._default(z.boolean(), true),
  ipv4_prefix: z._default(whole(8, 32), 32),
  ipv6_prefix: z._default(whole(32, 128), 64),
  /** A manual or API ban wider than this is refused without --force. */
  max_manual_v4: z._default(whole(1, 32), 16),
  max_manual_v6: z._default(whole(1, 128), 32),
  /** Bans of v4 addresses become one /24 ban once this many of a /24 are banned. Off when absent. */
  aggregate_ipv4: z.optional(whole(2, 256)),
  /** IPv6 bans (ipv6_prefix, /64) become one /48 ban once this many of a /48 are banned. Off when absent. */
  aggregate_ipv6: z.optional(whole(2, 65536)),
  /** Size of each nftables ban set; when full, bans go wider (/24, /48) instead. */
  max_bans: z._default(whole(1024, 16_777_216), 1_048_576),
  ban_time: z._default(duration(true), parseDuration("24h")!),
  repeat_multiplier: z._default(z.number().check(z.minimum(1), z.maximum(100)), 2),
  ban_time_max: z._default(duration(true), parseDuration("30d")!),
  threshold: z._default(whole(1, 1000), 1),
  threshold_window: z._default(duration(false), parseDuration("1h")!),
  allow_self: z._default(z.boolean(), true),
  catch_syn_scans: z._default(z.boolean(), false),
  syn_ban_time: z._default(duration(true), parseDuration("1h")!),
  reconcile_interval: z._default(duration(false), parseDuration("60s")!),
  // A trap port a service left is given back to the traps only after this long (a restart is not a departure).
  trap_again_after: z._default(duration(false), parseDuration("1h")!),
  history_days: z._default(whole(1, 36500), 90),
  /** Published blocklists: `[[feed]]` tables (src/feeds/config.ts). */
  feed: feedsSchema,
  http: httpSchema,
  /** Share bans with other hosts through Redis (src/cluster). Off when absent. */
  cluster: z.optional(clusterSchema),
  /** Report trap bans to AbuseIPDB (src/report). Off when absent. */
  report: z.optional(reportSchema),
  /** Programs or webhooks told of bans and unbans (src/hooks). Off when absent. */
  hooks: z.optional(hooksSchema),
  /** Trap bans sent to a CrowdSec Local API as alerts (src/crowdsec). Off when absent. */
  crowdsec: z.optional(crowdsecSchema),
});

type Raw = z.infer<typeof schema>;

export interface Config extends Omit<Raw, "listen" | "trap_ports" | "listen_addresses" | "persist_file" | "cluster"> {
  listen: ListenMode;
  cluster?: ClusterConfig;
  /** Sorted, unique, every port of every range. */
  trap_ports: number[];
  listen_addresses: string[];
  persist_file: string;
  /** The daemon's control socket. */
  control_socket: string;
  /** The store's file. */
  database: string;
  /** Where the config came from, for messages. */
  source: string;
}

export function expandPorts(items: readonly (number | string)[]): number[] {
  const ports = new Set<number>();
  for (const item of items) {
    const [lo, hi = lo] = String(item).split("-").map(Number) as [number, number?];
    if (!(lo >= 1 && hi <= 65535 && lo <= hi)) {
      throw new Error(`bad port or range ${JSON.stringify(item)}: expected 1-65535, low-high`);
    }
    for (let p = lo; p <= hi; p++) ports.add(p);
  }
  return [...ports].sort((a, b) => a - b);
}

export type ListenMode = "direct" | "redirect";

/**
 * On nftables the kernel answers trap ports itself, so iblock need hold none
 * of them: a service installed later can bind its port. PF needs pf.conf's
 * rdr-to for "redirect", so there the listeners hold the trap ports.
 */
const defaultListen = (c: Raw): ListenMode => c.listen ?? (c.firewall === "nftables" ? "redirect" : "direct");

function defaultListenAddresses(c: Raw, listen: ListenMode): string[] {
  // PF's rdr-to can send to loopback; Linux's redirect sends a packet to the
  // address of the interface it came in on, so there the listener binds all.
  if (listen === "redirect" && c.firewall === "pf") return ["127.0.0.1", "::1"];
  return ["0.0.0.0", "::"];
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const key = issue.path.join(".");
  if (issue.path[0] === "feed") return describeFeedIssue(issue, raw.feed);
  // Keys of the [cluster] section have their own words (zod's message, written for each).
  const inCluster = issue.path[0] === "cluster";
  if (issue.code === "unrecognized_keys") {
    const section = issue.path.length ? ` in [${issue.path.join(".")}]` : "";
    const sections: Record<string, readonly string[]> = {
      http: HTTP_KEYS,
      cluster: Object.keys(clusterSchema.shape),
      report: Object.keys(reportSchema.shape),
      hooks: Object.keys(hooksSchema.shape),
    };
    const known = sections[String(issue.path[0])] ?? Object.keys(schema.shape);
    return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}${section} (known keys: ${known.join(", ")})`;
  }
  let value: unknown = raw;
  for (const part of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[part];
  if (key === "cluster.redis" && typeof value === "string") value = maskRedisPassword(value);
  // Our words, not the validator's: what the key takes, and an example.
  const help = inCluster && issue.path.length > 1 ? undefined : (KEY_HELP[key] ?? KEY_HELP[String(issue.path[0])]);
  const expected = help ? `expected ${help.expected} (e.g. ${help.example})` : issue.message;
  return `key "${key}": value ${JSON.stringify(value)} is not valid: ${expected}`;
}

export interface LoadOptions {
  /** -c FILE; else $IBLOCK_CONFIG; else /etc/iblock.toml (absent means all defaults). */
  file?: string;
  /** Values from command-line flags, applied over the file. */
  overrides?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const explicit = opts.file ?? env.IBLOCK_CONFIG;
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  let text: string | undefined;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    // The default file may be absent; a file someone named must exist.
    if (explicit !== undefined || (e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw configError(`cannot read config ${file}: ${(e as Error).message}`);
    }
  }
  let raw: Record<string, unknown> = {};
  if (text !== undefined) {
    try {
      raw = parseToml(text);
    } catch (e) {
      throw configError(`config ${file} is not valid TOML: ${describeTomlError(e, text)}`);
    }
  }
  return validateConfig({ ...raw, ...opts.overrides }, text === undefined ? "defaults" : file, env);
}

/** Every key a config may have. */
export const CONFIG_KEYS: readonly string[] = Object.keys(schema.shape);

export function validateConfig(raw: Record<string, unknown>, source: string, env: NodeJS.ProcessEnv = {}): Config {
  const merged = { ...raw };
  if (env.IBLOCK_STATE_DIR) merged.state_dir = env.IBLOCK_STATE_DIR;
  const result = schema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => describeIssue(i, merged));
    throw configError(`config ${source}: ${lines.join("; ")}`);
  }
  const c = result.data;
  let trap_ports: number[];
  try {
    trap_ports = expandPorts(c.trap_ports);
  } catch (e) {
    throw configError(`config ${source}: key "trap_ports": ${(e as Error).message}`);
  }
  // Also under "direct": inetd (`iblock setup inetd`) and a later switch to redirect listen there.
  if (trap_ports.includes(c.listen_port)) {
    // The example is a port that is free of traps: 2507 itself may be one.
    const traps = new Set(trap_ports);
    let free = 2507;
    while (free <= 65535 && traps.has(free)) free++;
    const example = free <= 65535 ? ` (e.g. listen_port = ${free})` : "";
    throw configError(`config ${source}: key "listen_port": ${c.listen_port} is also a trap port; pick a port outside trap_ports${example}`);
  }
  checkHttpConfig(c.http, source);
  checkHooksConfig(c.hooks, source);
  // The daemon runs from / (or wherever its service manager starts it), not from the admin's directory.
  if (!isAbsolute(c.state_dir)) {
    const from = env.IBLOCK_STATE_DIR ? "IBLOCK_STATE_DIR" : 'key "state_dir"';
    throw configError(`config ${source}: ${from}: ${JSON.stringify(c.state_dir)} is a relative path; expected an absolute path (e.g. state_dir = "/var/lib/iblock")`);
  }
  // A permanent first ban never escalates: a cap someone wrote for it contradicts it (the default cap does not).
  if (c.ban_time === Infinity && merged.ban_time_max !== undefined && c.ban_time_max !== Infinity) {
    throw configError(
      `config ${source}: key "ban_time_max": ${formatDuration(c.ban_time_max)} is shorter than ban_time ("permanent"), which never ends; remove ban_time_max, or give ban_time a duration (e.g. ban_time = "24h")`,
    );
  }
  // Escalation only lengthens bans: a cap below the first ban contradicts it.
  if (c.ban_time !== Infinity && c.ban_time_max < c.ban_time) {
    throw configError(
      `config ${source}: key "ban_time_max": ${formatDuration(c.ban_time_max)} is shorter than ban_time (${formatDuration(c.ban_time)}); expected at least ban_time (e.g. ban_time_max = "30d")`,
    );
  }
  return {
    ...c,
    trap_ports,
    listen: defaultListen(c),
    listen_addresses: c.listen_addresses ?? defaultListenAddresses(c, defaultListen(c)),
    persist_file: c.persist_file ?? `/etc/iblock-${c.table}.txt`,
    cluster: c.cluster && clusterConfig(c.cluster),
    control_socket: join(c.state_dir, "control.sock"),
    database: join(c.state_dir, "iblock.sqlite"),
    source,
  };
}
