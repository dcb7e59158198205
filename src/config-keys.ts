import { HOOK_KEY_HELP } from "./hooks/config.js";
import { REPORT_KEY_HELP } from "./report/config.js";

type Help = Record<string, { expected: string; example: string }>;
const inSection = (section: string, help: Help): Help => Object.fromEntries(Object.entries(help).map(([k, v]) => [`${section}.${k}`, v]));

/**
 * What each config key expects, in our words, with an example: config errors
 * say this instead of the validator's text, and the docs test checks that
 * docs/configuration.md and contrib/iblock.toml name every key listed here.
 */
export const KEY_HELP: Record<string, { expected: string; example: string }> = {
  firewall: { expected: '"nftables", "pf" or "none"', example: 'firewall = "nftables"' },
  table: { expected: '1-31 letters, digits, "_", "-" or ".", starting with a letter or "_"', example: 'table = "iblocked"' },
  trap_ports: { expected: 'a list of port numbers (1-65535) and "a-b" ranges, at least one', example: 'trap_ports = [21, 23, "137-139"]' },
  listen: { expected: '"direct" or "redirect"', example: 'listen = "direct"' },
  listen_port: { expected: "a port number, 1-65535, that is not a trap port", example: "listen_port = 2507" },
  listen_addresses: { expected: "a list of IP addresses", example: 'listen_addresses = ["127.0.0.1", "::1"]' },
  state_dir: { expected: "a directory path", example: 'state_dir = "/var/lib/iblock"' },
  allow: { expected: "a list of addresses or CIDRs with no host bits set", example: 'allow = ["192.0.2.0/24", "2001:db8::/32"]' },
  syslog: { expected: "true or false", example: "syslog = true" },
  syslog_socket: { expected: "a socket path", example: 'syslog_socket = "/dev/log"' },
  command_prefix: { expected: "a list of words (the program and its options)", example: 'command_prefix = ["/usr/bin/doas", "-n"]' },
  pfctl: { expected: "the path of pfctl", example: 'pfctl = "/sbin/pfctl"' },
  persist_file: { expected: "a file path", example: 'persist_file = "/etc/iblock-iblocked.txt"' },
  pf_overload: { expected: "true or false", example: "pf_overload = false" },
  kernel_route: { expected: "true or false", example: "kernel_route = true" },
  ipv4_prefix: { expected: "a whole number, 8-32", example: "ipv4_prefix = 32" },
  ipv6_prefix: { expected: "a whole number, 32-128", example: "ipv6_prefix = 64" },
  max_manual_v4: { expected: "a whole number, 1-32: wider manual bans need --force", example: "max_manual_v4 = 16" },
  max_manual_v6: { expected: "a whole number, 1-128: wider manual bans need --force", example: "max_manual_v6 = 32" },
  aggregate_ipv4: { expected: "a whole number, 2-256", example: "aggregate_ipv4 = 16" },
  aggregate_ipv6: { expected: "a whole number, 2-65536", example: "aggregate_ipv6 = 8" },
  max_bans: { expected: "a whole number, 1024-16777216", example: "max_bans = 1048576" },
  group: { expected: "a group name or gid", example: 'group = "munin"' },
  ban_time: { expected: 'a duration like "90s", "15m", "24h" or "7d", or "permanent"', example: 'ban_time = "24h"' },
  repeat_multiplier: { expected: "a number, 1-100", example: "repeat_multiplier = 2" },
  ban_time_max: { expected: 'a duration like "90s", "15m", "24h" or "7d", or "permanent", not shorter than ban_time', example: 'ban_time_max = "30d"' },
  threshold: { expected: "a whole number, 1-1000", example: "threshold = 1" },
  threshold_window: { expected: 'a duration like "90s", "15m", "24h" or "7d"', example: 'threshold_window = "1h"' },
  allow_self: { expected: "true or false", example: "allow_self = true" },
  catch_syn_scans: { expected: "true or false", example: "catch_syn_scans = false" },
  syn_ban_time: { expected: 'a duration like "90s", "15m", "24h" or "7d", or "permanent"', example: 'syn_ban_time = "1h"' },
  reconcile_interval: { expected: 'a duration like "90s", "15m", "24h" or "7d"', example: 'reconcile_interval = "60s"' },
  trap_again_after: { expected: 'a duration like "90s", "15m", "24h" or "7d"', example: 'trap_again_after = "1h"' },
  cluster: { expected: "a [cluster] section with redis, name and secret_file", example: '[cluster] redis = "redis://10.0.0.5:6379/0"' },
  crowdsec: { expected: "a [crowdsec] section with login and password_file", example: '[crowdsec] login = "iblock" password_file = "/etc/iblock/crowdsec.pw"' },
  history_days: { expected: "a whole number of days, 1-36500", example: "history_days = 90" },
  feed: { expected: "[[feed]] tables, each with a name and a url", example: '[[feed]] name = "drop" url = "https://example.org/drop.txt"' },
  http: { expected: "a [http] section", example: '[http] enabled = true' },
  "http.enabled": { expected: "true or false", example: "enabled = true" },
  "http.listen": { expected: 'an IP address and a port', example: 'listen = "127.0.0.1:9107"' },
  "http.tls_cert": { expected: "the path of a PEM certificate", example: 'tls_cert = "/etc/iblock/cert.pem"' },
  "http.tls_key": { expected: "the path of a PEM private key", example: 'tls_key = "/etc/iblock/key.pem"' },
  "http.allow_insecure_remote": { expected: "true or false", example: "allow_insecure_remote = false" },
  "http.token_file": { expected: "the path of a file holding the bearer token (mode 0600)", example: 'token_file = "/etc/iblock/http-token"' },
  "http.read_token_file": { expected: "the path of a file holding the read token (mode 0600)", example: 'read_token_file = "/etc/iblock/http-read"' },
  "http.rate_limit": { expected: "a whole number of requests per minute, 1-100000", example: "rate_limit = 60" },
  report: { expected: "a [report] section with key_file", example: '[report] key_file = "/etc/iblock/abuseipdb-key"' },
  ...inSection("report", REPORT_KEY_HELP),
  hooks: { expected: "a [hooks] section with on_ban or on_unban", example: '[hooks] on_ban = ["/usr/local/bin/on-ban"]' },
  ...inSection("hooks", HOOK_KEY_HELP),
};

/** smol-toml's reasons, in words that say what to do. */
const TOML_REASONS: [RegExp, string][] = [
  [/control characters are not allowed/, 'a control character inside a quoted string: remove it, or write it as an escape such as "\\t"'],
  [/numeric literal|invalid (number|integer)|unexpected character/i, 'a bare word where a value should be: quote text, e.g. ban_time = "24h"'],
  [/redefine/, "a key given twice: keep one"],
  [/unfinished array/, 'a list without its closing "]"'],
  [/unterminated string|unfinished string/i, "a string without its closing quote"],
];

/** "line L, column C: what is wrong (the line)" for a TOML parse error. */
export function describeTomlError(e: unknown, text: string): string {
  const err = e as { message?: string; line?: number; column?: number };
  const reason = (err.message ?? String(e)).replace(/^Invalid TOML document:\s*/, "").split("\n")[0] ?? "";
  const ours = TOML_REASONS.find(([re]) => re.test(reason))?.[1] ?? reason;
  if (err.line === undefined) return ours;
  const line = text.split("\n")[err.line - 1] ?? "";
  return `line ${err.line}, column ${err.column ?? "?"}: ${ours} (the line: ${JSON.stringify(line)})`;
}
