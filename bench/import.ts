// `npm run bench -- import [N]`: `iblock import` of N lines (IPv4 /32s of
// 240.0.0.0/4: reserved, never routed, set elements only) into a running daemon
// with an empty store, against a bare `nft -f` of the same N elements in the
// same run. Target (issue 8): at most 3x the bare load. Default N: 1,000,000.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Instance } from "../test/support/daemon.js";
import { Topology, uniqueName } from "../test/support/netns.js";
import { run } from "../test/support/proc.js";

const DAY_S = 86_400;
const bulkAddress = (i: number): string => `${240 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: Math.round(performance.now() - t0), value };
}

/** The same elements through a bare `nft -f`, in 10,000-element commands, in a namespace of its own. */
async function bareNft(n: number, file: string): Promise<number> {
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

export interface ImportBench {
  lines: number;
  bareNftMs: number;
  importMs: number;
  ratio: number;
  output: string;
  exit: number | null;
}

export async function importBench(n: number): Promise<ImportBench> {
  const work = await mkdtemp(join(tmpdir(), "iblock-import-bench-"));
  try {
    const bareNftMs = await bareNft(n, join(work, "bare.nft"));
    const file = join(work, "import.txt");
    await writeFile(file, Array.from({ length: n }, (_, i) => bulkAddress(i)).join("\n") + "\n");
    const topo = await Topology.create({});
    const inst = new Instance(topo.host, join(work, "inst"));
    try {
      await inst.writeConfig({ max_bans: 2_097_152 });
      const d = await inst.start();
      const imp = await timed(() => inst.cli("import", [file], 600_000));
      await d.stop(60_000);
      return { lines: n, bareNftMs, importMs: imp.ms, ratio: Math.round((imp.ms / bareNftMs) * 100) / 100, output: imp.value.stdout.trim(), exit: imp.value.code };
    } finally {
      await inst.cleanup();
      await topo.destroy();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
