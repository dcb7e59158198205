// The daemon's test holds (src/test-hold.ts): a step held waits until the
// test releases it, so the test makes the order it needs instead of betting
// on this machine's speed.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOLD_NAMES, type HoldName } from "../../src/test-hold.js";
import type { Instance } from "./daemon.js";

export class Holds {
  private readonly dir: string;

  /** Holds the steps `held` for the daemons `inst` starts from now on; the others go on. */
  constructor(inst: Instance, held: readonly HoldName[]) {
    this.dir = inst.dir;
    inst.extraEnv = { ...inst.extraEnv, IBLOCK_TEST_HOLD_DIR: this.dir };
    for (const name of HOLD_NAMES) if (!held.includes(name)) this.release(name);
  }

  /** Lets `name` go on, now and every later time it comes. */
  release(name: HoldName): void {
    writeFileSync(join(this.dir, name), "");
  }
}
