// What the million-ban benches share: the addresses they ban, a timer, and
// the bare `nft -f` of the same elements every ratio is taken against.
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { uniqueName } from "../test/support/netns.js";
import { run } from "../test/support/proc.js";
import { round } from "./measure.js";

export const DAY_S = 86_400;

/** The i-th address of 240.0.0.0/4 (reserved, never routed: set elements only, no traffic). */
export const bulkAddress = (i: number): string => `${240 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: round(performance.now() - t0, 1) ?? 0, value };
}

/** The first n of those through a bare `nft -f`, in 10,000-element commands, in a namespace of its own. */
export async function bareNft(n: number, file: string): Promise<number> {
  const ns = uniqueName("bare");
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const lines = ["table inet bare {}", "add set inet bare s { type ipv4_addr; flags dynamic,timeout; size 2097152; }"];
    for (let i = 0; i < n; i += 10_000) {
      const items: string[] = [];
      for (let j = i; j < Math.min(n, i + 10_000); j++) items.push(`${bulkAddress(j)} timeout ${DAY_S}s`);
      lines.push(`add element inet bare s { ${items.join(", ")} }`);
    }
    await writeFile(file, lines.join("\n") + "\n");
    return (await timed(() => run(["ip", "netns", "exec", ns, "nft", "-f", file], { timeoutMs: 120_000 }))).ms;
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
}
