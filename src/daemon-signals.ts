import type { Config } from "./config.js";
import type { Logger } from "./log.js";

/** What the signals drive. */
export interface Signalled {
  start(): Promise<void>;
  reload(load: () => Config): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start, reload on SIGHUP (`reload` re-reads the config), and stop on SIGTERM
 * or SIGINT, once the start and any reload have ended.
 */
export async function runUntilSignalled(daemon: Signalled, log: Logger, reload: () => Config): Promise<void> {
  let started = false;
  let startOver: () => void = () => undefined;
  // Reloads wait for the start. The handler is in place before it: a SIGHUP
  // just after "ready" (or during a long start) found none once, and the
  // signal's default action killed the daemon.
  let reloading = new Promise<void>((r) => (startOver = r));
  // A reload already waiting to start reads the newest config anyway: signals
  // that come meanwhile join it, so a burst of SIGHUPs never piles up reloads.
  let reloadWaiting = false;
  const onHup = (): void => {
    if (reloadWaiting) return;
    reloadWaiting = true;
    log.info("SIGHUP: reloading the config and re-syncing the firewall");
    // A failed reload must not poison the next one, nor the stop.
    reloading = reloading
      .then(() => {
        reloadWaiting = false;
        return started ? daemon.reload(reload) : undefined;
      })
      .catch((e: Error) => log.error(`SIGHUP: ${e.message}`));
  };
  try {
    // Listening before start: a SIGTERM right after "ready" (or during a long start) stops cleanly.
    const stopSignal = new Promise<string>((resolve) => {
      process.once("SIGTERM", () => resolve("SIGTERM"));
      process.once("SIGINT", () => resolve("SIGINT"));
    });
    process.on("SIGHUP", onHup);
    await daemon.start();
    started = true;
    startOver();
    log.info(`${await stopSignal}: finishing the bans in flight and stopping`);
  } finally {
    startOver();
    process.off("SIGHUP", onHup);
    await reloading;
    await daemon.stop();
  }
}
