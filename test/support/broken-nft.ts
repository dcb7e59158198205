// An nft that can be broken and healed while the daemon runs: a wrapper put
// first on the daemon's PATH. Broken, every new nft process fails at once as a
// broken binary would; breaking also kills the nft processes already running in
// the namespace (the daemon's session), so nothing gets through until heal().
import { readFile, rm, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { tempDir } from "./daemon.js";
import { run } from "./proc.js";

export class BrokenNft {
  private constructor(
    readonly dir: string,
    private readonly flag: string,
  ) {}

  /** The PATH to give the daemon: the wrapper's directory, then the usual ones. */
  get path(): string {
    return `${this.dir}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`;
  }

  static async create(t: TestContext | undefined): Promise<BrokenNft> {
    const dir = await tempDir(t, "iblock-broken-nft-");
    const flag = join(dir, "broken");
    const real = (await run(["sh", "-c", "command -v nft"])).stdout.trim();
    if (!real.startsWith("/")) throw new Error(`nft not found: ${real}`);
    const script = join(dir, "nft");
    // A test's stand-in for a broken binary, not iblock code (which never uses a shell).
    await writeFile(script, `#!/bin/sh\nif [ -e '${flag}' ]; then echo 'nft: broken for a test' >&2; exit 1; fi\nexec '${real}' "$@"\n`);
    await chmod(script, 0o755);
    return new BrokenNft(dir, flag);
  }

  /** From now on nft fails; the nft processes running in `ns` are killed. */
  async break(ns: string): Promise<void> {
    await writeFile(this.flag, "");
    const pids = (await run(["ip", "netns", "pids", ns])).stdout.split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      const argv = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (argv.split("\0")[0]?.endsWith("nft")) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          /* gone already */
        }
      }
    }
  }

  async heal(): Promise<void> {
    await rm(this.flag, { force: true });
  }
}
