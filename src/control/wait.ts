import type { Config } from "../config.js";
import { EX_TEMPFAIL, IblockError } from "../errors.js";
import { lockHolder } from "../state-lock.js";
import { askDaemon } from "./client.js";
import type { Request } from "./protocol.js";

// A daemon restoring a large store binds its control socket late; give it this long.
const START_WAIT_MS = 60_000;
const RETRY_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * No daemon answered on the control socket. If one holds the state dir all the
 * same (it is starting), working on the store and firewall beside it would race
 * its restore: wait for its socket instead. Resolves the daemon's answer, or
 * undefined when no daemon holds the state dir (or it went away while we waited),
 * so the caller may do the work itself.
 */
export async function waitForStartingDaemon(config: Config, req: Request, say = (l: string) => process.stderr.write(l + "\n")): Promise<unknown> {
  let holder = lockHolder(config.state_dir);
  if (holder === undefined) return undefined;
  say(`iblock: the daemon (pid ${holder}) is starting; waiting for its control socket ${config.control_socket}`);
  const deadline = Date.now() + START_WAIT_MS;
  while (Date.now() < deadline) {
    await sleep(RETRY_MS);
    const answer = await askDaemon(config.control_socket, req);
    if (answer !== undefined) return answer;
    holder = lockHolder(config.state_dir);
    if (holder === undefined) return undefined;
  }
  throw new IblockError(
    `the daemon (pid ${holder}) holds state_dir ${config.state_dir} but has not answered on ${config.control_socket} for ${START_WAIT_MS / 1000} s; see its log`,
    EX_TEMPFAIL,
  );
}
