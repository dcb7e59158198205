import { run } from "../util/run.js";
import type { HookEvent } from "./event.js";
import type { Deliver } from "./hook-queue.js";

// A hook that takes longer is killed and counts as failed.
const TIMEOUT_MS = 30_000;

/**
 * Run the program (no shell) with the batch's addresses as its last
 * arguments, one each, and the events on standard input, one JSON object a
 * line. It fails when it exits with anything but 0.
 */
export function programHook(argv: readonly string[]): Deliver {
  return async (events: readonly HookEvent[]) => {
    const input = events.map((e) => `${JSON.stringify(e)}\n`).join("");
    await run([...argv, ...events.map((e) => e.address)], { input, timeoutMs: TIMEOUT_MS, maxOutput: 4096 });
  };
}
