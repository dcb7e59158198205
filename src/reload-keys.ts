import type { Config } from "./config.js";
import type { Logger } from "./log.js";

/** Keys that can change only with a restart. */
// ipv4_prefix/ipv6_prefix: the keyed ban sets hold networks of that length, so a
// change moves every ban in force; done at start, where the restore does it anyway.
export const FIXED_KEYS = ["state_dir", "firewall", "command_prefix", "pfctl", "ipv4_prefix", "ipv6_prefix", "http", "cluster", "report", "hooks", "crowdsec"] as const;

/** The keys above that are sections: named as such, never dumped (they name secret files). */
export const FIXED_SECTIONS: readonly string[] = ["http", "cluster", "report", "hooks", "crowdsec"];

/** What a SIGHUP keeps of a key that changes only with a restart: a section is named, not dumped. */
function restartOnly(key: (typeof FIXED_KEYS)[number], kept: unknown): string {
  if (FIXED_SECTIONS.includes(key)) {
    const running = key === "http" ? (kept as { enabled?: boolean } | undefined)?.enabled === true : kept !== undefined;
    return `the [${key}] section changes only with a restart; the daemon goes on ${running ? `with the [${key}] it started with` : `without [${key}]`}`;
  }
  return `"${key}" changes only with a restart; keeping ${JSON.stringify(kept)}`;
}

/** A reloaded config with the running one's value of each key that changes only with a restart, each one said. */
export function keepRestartOnlyKeys(next: Config, running: Config, log: Logger): Config {
  const kept = { ...next } as unknown as Record<string, unknown>;
  for (const key of FIXED_KEYS) {
    if (JSON.stringify(next[key]) !== JSON.stringify(running[key])) {
      log.warn(`SIGHUP: ${restartOnly(key, running[key])}`);
      kept[key] = running[key];
    }
  }
  return kept as unknown as Config;
}
