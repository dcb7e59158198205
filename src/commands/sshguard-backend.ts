import { createInterface } from "node:readline";
import type { Config } from "../config.js";
import { askDaemon } from "../control/client.js";
import { IMPORT_BATCH, type ToolChange } from "../control/protocol.js";
import { Backoff } from "../util/backoff.js";
import { throttled } from "../util/throttled.js";
import { EX_DATAERR, IblockError } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * One line of sshguard's blocker (sshg-blocker), as its own backends read it:
 * `block ADDR TYPE PREFIXLEN`, `release ADDR TYPE PREFIXLEN`, `flush`,
 * `flushonexit`. TYPE (4 or 6) is the family; the daemon parses ADDR itself.
 * Undefined for `flushonexit` (iblock always lifts sshguard's bans when it
 * stops, as sshguard's nftables backend deletes its table) and for a line
 * that is none of these.
 */
export function sshguardChange(line: string, time: string): ToolChange | "unknown" | undefined {
  const [cmd, address, , length, extra] = line.trim().split(/\s+/);
  if (cmd === "flush" && address === undefined) return { op: "flush" };
  if (cmd === "flushonexit" && address === undefined) return undefined;
  if ((cmd !== "block" && cmd !== "release") || address === undefined || address.length > 45 || extra !== undefined || !/^\d{1,3}$/.test(length ?? "")) return "unknown";
  const full = address.includes(":") ? "128" : "32";
  const target = length === full ? address : `${address}/${length}`;
  return cmd === "block" ? { op: "ban", address: target, reason: "sshguard", time } : { op: "unban", address: target };
}

// Lines arriving together (sshguard's start with a blacklist) go in one request.
const GATHER_MS = 50;
// Changes held while the daemon is down: beyond, new ones are dropped (the oldest, the
// start's flush among them, stay, and a batch in flight keeps its place at the head).
const MAX_PENDING = 1_000_000;

/**
 * `iblock sshguard-backend`: sshguard's BACKEND. Reads its commands on
 * standard input until it closes, sends them to the daemon in order, in
 * batches, and lifts every ban sshguard holds at start (what a previous run
 * left) and at the end. While the daemon is down the lines wait.
 */
export async function sshguardBackend(config: Config, time: string, log: Logger): Promise<void> {
  const pending: ToolChange[] = [{ op: "flush" }];
  let ended = false;
  let wake: (() => void) | undefined;
  const warnDropped = throttled(60_000, (_msg, skipped) => log.warn(`sshguard-backend: ${MAX_PENDING} changes wait for the daemon; dropping new ones (${skipped + 1} since the last line)`));
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    const change = sshguardChange(line, time);
    if (change === "unknown") log.warn(`sshguard-backend: ignoring ${JSON.stringify(line.slice(0, 120))}: not a command of sshguard's`);
    else if (change) {
      if (pending.length >= MAX_PENDING) warnDropped("dropped");
      else pending.push(change);
    }
    wake?.();
  });
  lines.on("close", () => {
    ended = true;
    pending.push({ op: "flush" });
    wake?.();
  });
  const backoff = new Backoff(500, 30_000);
  for (;;) {
    if (pending.length === 0) {
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
      await new Promise((r) => setTimeout(r, GATHER_MS));
      continue;
    }
    const batch = pending.slice(0, IMPORT_BATCH);
    try {
      const answer = await askDaemon(config.control_socket, { cmd: "tool", source: "sshguard", changes: batch });
      if (answer === undefined) throw new Error(`no iblock daemon answers on ${config.control_socket}`);
      pending.splice(0, batch.length);
      backoff.reset();
    } catch (e) {
      if (e instanceof IblockError && e.exitCode === EX_DATAERR) {
        // Refused as a whole, it would be refused again: said, and not retried.
        log.error(`sshguard-backend: iblock refused ${batch.length} change(s): ${e.message}`);
        pending.splice(0, batch.length);
        continue;
      }
      const delay = backoff.next();
      log.warn(`sshguard-backend: ${(e as Error).message}; ${pending.length} change(s) wait, trying again in ${delay / 1000} s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
