// `npm run bench -- fail2ban [N]`: the burst fail2ban's start makes (every
// ticket of its database banned again) as its action (contrib/fail2ban/
// action.d/iblock.py) sends it: N bans in requests of IMPORT_BATCH changes
// over the control socket, into a running daemon with an empty store. Timed
// from the first request to the last answer (every ban in nftables' set), then
// the set is counted. Target (issue 30): 10,000 in under 10 s. Default N: 10,000.
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IMPORT_BATCH } from "../src/control/protocol.js";
import { Instance } from "../test/support/daemon.js";
import { Topology } from "../test/support/netns.js";
import { bannedElements } from "../test/support/nft.js";
import { bulkAddress, timed } from "./bulk.js";

export interface Fail2banBench {
  bans: number;
  ms: number;
  inSet: number;
  answers: unknown[];
}

function ask(path: string, req: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = "";
    s.setEncoding("utf8");
    s.on("connect", () => s.write(JSON.stringify(req) + "\n"));
    s.on("data", (d: string) => (buf += d));
    s.on("end", () => resolve(JSON.parse(buf)));
    s.on("error", reject);
  });
}

export async function fail2banBench(n: number): Promise<Fail2banBench> {
  const work = await mkdtemp(join(tmpdir(), "iblock-fail2ban-bench-"));
  const topo = await Topology.create({});
  const inst = new Instance(topo.host, join(work, "inst"));
  try {
    await inst.writeConfig({ max_bans: 2_097_152 });
    const d = await inst.start();
    const socket = join(inst.stateDir, "control.sock");
    const changes = Array.from({ length: n }, (_, i) => ({ op: "ban", address: bulkAddress(i), reason: "sshd", time: "600s" }));
    // The action sends one request at a time, in order.
    const run = await timed(async () => {
      const answers: unknown[] = [];
      for (let i = 0; i < n; i += IMPORT_BATCH) answers.push(await ask(socket, { cmd: "tool", source: "fail2ban", changes: changes.slice(i, i + IMPORT_BATCH) }));
      return answers;
    });
    const inSet = (await bannedElements(topo.host)).size;
    await d.stop(60_000);
    return { bans: n, ms: run.ms, inSet, answers: run.value };
  } finally {
    await inst.cleanup();
    await topo.destroy();
    await rm(work, { recursive: true, force: true });
  }
}
