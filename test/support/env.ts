// Whether this machine can run the integration tests. In CI (CI=true) a missing
// requirement is a failure, never a skip; elsewhere the test is skipped with the reason.
import { spawnSync } from "node:child_process";
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

/** Why the requirement is not met, or undefined when it is. */
export function missing(programs: readonly string[] = ["ip", "nft"]): string | undefined {
  if (process.platform !== "linux") return `needs Linux network namespaces (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs root (network namespaces, nftables)";
  for (const p of programs) {
    if (!hasProgram(VERSION_ARGV[p] ?? [p, "--version"])) return `needs ${p}, which is not installed`;
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
