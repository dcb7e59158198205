import type { Config } from "../config.js";
import { lockHolder, type Holder } from "../state-lock.js";
import { askDaemon } from "./client.js";

/** What says an iblock runs on a config: its control socket, or its state dir's lock. */
export interface RunningDaemon {
  /** The pid of the iblock that answers or holds the lock ("unknown": its pid file cannot be read); undefined when none does. */
  pid: Holder | undefined;
  /** It answered on the control socket (a daemon still restoring holds the lock and does not answer yet). */
  answers: boolean;
  /** Why asking on the control socket failed (permission denied, no answer), when it did. */
  askError?: Error;
}

/**
 * Whether an iblock runs on this config's state dir. Both are asked: a
 * daemon answers only once it is ready, and the lock says nothing to whom
 * may not read the state dir.
 */
export async function runningDaemon(config: Pick<Config, "control_socket" | "state_dir">): Promise<RunningDaemon> {
  let askError: Error | undefined;
  const ping = (await askDaemon(config.control_socket, { cmd: "ping" }).catch((e: Error) => void (askError = e))) as { pid?: number } | undefined;
  if (ping) return { pid: ping.pid ?? "unknown", answers: true };
  return { pid: lockHolder(config.state_dir), answers: false, askError };
}
