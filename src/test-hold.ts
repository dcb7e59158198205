import { existsSync } from "node:fs";
import { join } from "node:path";

// For the test suite only, and documented nowhere on purpose: with
// IBLOCK_TEST_HOLD_DIR set, a step named below waits until a file of its name
// exists in that directory. A test then makes the order it needs between the
// daemon's steps (a scan meeting a catch-up under way, Redis gone mid-read, a
// trap hit during a restore) instead of betting on this machine's speed.
// Unset, each hold is nothing.
// It only ever delays a step, and only for whoever sets the daemon's
// environment, who could stop the daemon anyway.
const HOLD_DIR = process.env.IBLOCK_TEST_HOLD_DIR;
const POLL_MS = 20;

/** Said once at the daemon's start when set: a variable left over from a test run would hold its steps. */
export function testHoldWarning(): string | undefined {
  return HOLD_DIR ? `IBLOCK_TEST_HOLD_DIR is set (${HOLD_DIR}): the start scan, restore, catch-ups and the recording of trap hits wait for files there; it is for iblock's test suite only, unset it` : undefined;
}

/** The steps a test can hold. */
export const HOLD_NAMES = ["catch-up", "start-scan", "restore", "record-hits"] as const;
export type HoldName = (typeof HOLD_NAMES)[number];

/** Waits while `name` is held (or until `abandon` says to go on: the daemon stopping). */
export async function testHold(name: HoldName, abandon: () => boolean = () => false): Promise<void> {
  if (!HOLD_DIR) return;
  const release = join(HOLD_DIR, name);
  while (!existsSync(release) && !abandon()) await new Promise((r) => setTimeout(r, POLL_MS));
}
