// `npm run bench -- import [N]`: `iblock import` of N lines (IPv4 /32s of
// 240.0.0.0/4: reserved, never routed, set elements only) into a running daemon
// with an empty store, against a bare `nft -f` of the same N elements in the
// same run. Target (issue 8): at most 3x the bare load. Default N: 1,000,000.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Instance } from "../test/support/daemon.js";
import { Topology } from "../test/support/netns.js";
import { bareNft, bulkAddress, timed } from "./bulk.js";

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
