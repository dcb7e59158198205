import { EX_SOFTWARE } from "./errors.js";
import type { Logger } from "./log.js";

// At most this long to hand the last line to syslog before exiting.
const LAST_WORDS_MS = 1_000;

/**
 * A bug that escaped every handler leaves the process in a state nobody has
 * reasoned about (a job that never runs again, a queue that waits forever).
 * Say so and exit 70 (EX_SOFTWARE): the supervisor (systemd's
 * Restart=on-failure, rc.d, inetd for the next connection) starts a clean
 * process, and the store holds every ban, so nothing is lost.
 */
export function exitOnFatal(log: Logger): void {
  let dying = false;
  const die = (what: string, e: unknown): void => {
    if (dying) return;
    dying = true;
    log.error(`${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}; exiting (70) for a clean restart, the store keeps every ban`);
    const exit = (): never => process.exit(EX_SOFTWARE);
    setTimeout(exit, LAST_WORDS_MS);
    void log.close().finally(exit);
  };
  process.on("uncaughtException", (e) => die("uncaught exception", e));
  process.on("unhandledRejection", (e) => die("unhandled rejection", e));
}
