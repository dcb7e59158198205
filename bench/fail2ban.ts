// `npm run bench -- fail2ban [N]`: the burst fail2ban's start makes (every
// ticket of its database banned again), N bans into a running daemon with an
// empty store, measured twice in one run:
// - socket: as the action (contrib/fail2ban/action.d/iblock.py) sends it, in
//   requests of IMPORT_BATCH changes, timed to the last answer (every ban in
//   nftables' set by then);
// - fail2ban: the real fail2ban-server with that action, told to ban N
//   addresses at once (`fail2ban-client set sshd banip ...`: each a ticket, as
//   restored ones are), timed until nftables' set holds them all.
// Target (issue 30): 10,000 in under 10 s. Default N: 10,000.
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IMPORT_BATCH } from "../src/control/protocol.js";
import { Instance } from "../test/support/daemon.js";
import { Topology } from "../test/support/netns.js";
import { bannedElements } from "../test/support/nft.js";
import { bulkAddress, timed } from "./bulk.js";
import { missing } from "../test/support/env.js";
import { startFail2ban } from "../test/support/fail2ban.js";
import { waitUntil } from "../test/support/proc.js";

export interface Fail2banBench {
  bans: number;
  socketMs: number;
  inSetAfterSocket: number;
  /** The daemon's longest event-loop stall during the socket burst (its `stats`). */
  eventLoopMaxMs: number;
  /** Undefined without fail2ban-server on this machine. */
  fail2banMs?: number;
  /** Of which fail2ban's own work: from its first "Ban" log line to its last (its clock, 1 ms). */
  fail2banOwnMs?: number;
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
  try {
    const socketRun = await overSocket(topo, join(work, "socket"), n);
    const f2b = missing(["fail2ban-server"]) ? undefined : await throughFail2ban(topo, join(work, "fail2ban"), n);
    return { bans: n, ...socketRun, fail2banMs: f2b?.ms, fail2banOwnMs: f2b?.ownMs };
  } finally {
    await topo.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

const stall = async (socket: string): Promise<number> =>
  ((await ask(socket, { cmd: "stats" })) as { result: { daemon: { event_loop_max_ms: number } } }).result.daemon.event_loop_max_ms;

async function overSocket(topo: Topology, dir: string, n: number): Promise<{ socketMs: number; inSetAfterSocket: number; eventLoopMaxMs: number }> {
  const inst = new Instance(topo.host, dir);
  try {
    await inst.writeConfig({ max_bans: 2_097_152 });
    const d = await inst.start();
    const socket = join(inst.stateDir, "control.sock");
    const changes = Array.from({ length: n }, (_, i) => ({ op: "ban", address: bulkAddress(i), reason: "sshd", time: "600s" }));
    await stall(socket); // from here on
    // The action sends one request at a time, in order.
    const run = await timed(async () => {
      for (let i = 0; i < n; i += IMPORT_BATCH) await ask(socket, { cmd: "tool", source: "fail2ban", changes: changes.slice(i, i + IMPORT_BATCH) });
    });
    const eventLoopMaxMs = await stall(socket);
    const inSet = [...(await bannedElements(topo.host))].filter((e) => e.startsWith("24")).length;
    await d.stop(60_000);
    return { socketMs: run.ms, inSetAfterSocket: inSet, eventLoopMaxMs };
  } finally {
    await inst.cleanup();
  }
}

/** fail2ban's log time ("2026-12-06 22:20:12,451") in ms. */
const logTime = (line: string): number => Date.parse(line.slice(0, 23).replace(" ", "T").replace(",", ".") + "Z");

async function throughFail2ban(topo: Topology, dir: string, n: number): Promise<{ ms: number; ownMs: number }> {
  const inst = new Instance(topo.host, dir);
  try {
    await inst.writeConfig({ max_bans: 2_097_152 });
    const d = await inst.start();
    const f2b = await startFail2ban(inst, topo.host);
    try {
      const addresses = Array.from({ length: n }, (_, i) => bulkAddress(i));
      const run = await timed(async () => {
        const r = await f2b.client("set", "sshd", "banip", ...addresses);
        if (r.code !== 0) throw new Error(`fail2ban-client banip: ${r.stderr}`);
        await waitUntil(async () => [...(await bannedElements(topo.host))].filter((e) => e.startsWith("24")).length >= n, {
          timeoutMs: 300_000,
          intervalMs: 250,
          what: `${n} bans in nftables' set`,
        });
      });
      const bans = f2b.server.lines.filter((l) => /NOTICE\s+\[sshd\] Ban /.test(l));
      return { ms: run.ms, ownMs: bans.length ? logTime(bans[bans.length - 1] ?? "") - logTime(bans[0] ?? "") : NaN };
    } finally {
      await f2b.server.stop("SIGTERM", 60_000);
      await d.stop(60_000);
    }
  } finally {
    await inst.cleanup();
  }
}
