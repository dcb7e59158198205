// Whether this machine can run the integration tests. In CI (CI=true) a missing
// requirement is a failure, never a skip; elsewhere the test is skipped with the reason.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";

export const inCI = (): boolean => /^(1|true|yes)$/i.test(process.env.CI ?? "");

function hasProgram(argv: readonly string[]): boolean {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return false;
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 10_000 });
  return r.error === undefined && r.status === 0;
}

const VERSION_ARGV: Record<string, readonly string[]> = {
  nft: ["nft", "--version"],
  ip: ["ip", "-V"],
  conntrack: ["conntrack", "--version"],
  nmap: ["nmap", "--version"],
};

/** For programs with no harmless version flag (inetd, rsyslogd). */
function onPath(name: string): boolean {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  return dirs.some((d) => {
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why the requirement is not met, or undefined when it is. */
export function missing(programs: readonly string[] = ["ip", "nft"]): string | undefined {
  if (process.platform !== "linux") return `needs Linux network namespaces (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs root (network namespaces, nftables)";
  for (const p of programs) {
    const argv = VERSION_ARGV[p];
    if (!(argv ? hasProgram(argv) : onPath(p))) return `needs ${p}, which is not installed`;
  }
  return undefined;
}

/**
 * Call first in an integration test: `if (!requireRoot(t)) return;`.
 * Throws in CI, skips (with the reason) elsewhere.
 */
export function requireRoot(t: TestContext, programs: readonly string[] = ["ip", "nft"]): boolean {
  const why = missing(programs);
  if (why === undefined) return true;
  if (inCI()) throw new Error(`integration test cannot run in CI: ${why}`);
  t.skip(why);
  return false;
}
