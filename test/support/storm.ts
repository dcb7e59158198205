// Many scanner sources at once, from the scanner namespace (198.18.0.0/15
// with `manySources`): each connects to a trap port once, then each probes
// the service once, all from one node process per phase.
import type { Topology } from "./netns.js";
import { ADDR, SERVICE_PORT } from "./netns.js";

/** The i-th usable source of 198.18.0.0/15 (skipping .0 and .255 of each /24). */
export function stormSource(i: number): string {
  const n = Math.floor(i / 254);
  return `198.${18 + (n >> 8)}.${n & 255}.${(i % 254) + 1}`;
}

const SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const cfg = JSON.parse(process.argv[1]);
const out = { handshakes: 0, failed: 0, dropped: 0, answered: 0, answeredSources: [] };
function connect(src, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = net.connect({ host: cfg.dst, port, localAddress: src });
    let done = false;
    const fin = (k) => { if (done) return; done = true; clearTimeout(t); s.destroy(); resolve(k); };
    // After the I/O due by then: a process held up past the timer still sees an answer that came in time.
    const t = setTimeout(() => setImmediate(() => fin("timeout")), timeoutMs);
    s.once("connect", () => fin("connected"));
    s.on("error", (e) => fin(e.code === "ECONNRESET" ? "connected" : "error"));
  });
}
async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]); }));
}
(async () => {
  if (cfg.phase === "trap") {
    await pool(cfg.sources, cfg.concurrency, async (src) => {
      const k = await connect(src, cfg.trapPort, 3000);
      if (k === "connected") out.handshakes++; else out.failed++;
    });
  } else {
    await pool(cfg.sources, cfg.concurrency, async (src) => {
      const k = await connect(src, cfg.servicePort, cfg.timeoutMs);
      if (k === "timeout") out.dropped++;
      else {
        out.answered++;
        if (out.answeredSources.length < 10000) out.answeredSources.push(src);
      }
    });
  }
  console.log(JSON.stringify(out));
})();
`;

export interface StormResult {
  handshakes: number;
  failed: number;
  dropped: number;
  answered: number;
  /** The sources that got an answer (probe phase; at most 10,000 named). */
  answeredSources: string[];
}

async function phase(topo: Topology, args: Record<string, unknown>, timeoutMs: number): Promise<StormResult> {
  const p = topo.spawnNode(topo.scanner, SCRIPT, [JSON.stringify({ dst: ADDR.hostV4, servicePort: SERVICE_PORT, ...args })]);
  return JSON.parse(await p.waitForLine(/^\{/, timeoutMs)) as StormResult;
}

/** One trap connect per source, `concurrency` at a time. */
export function trapStorm(topo: Topology, sources: readonly string[], trapPort = 23, concurrency = 500): Promise<StormResult> {
  return phase(topo, { phase: "trap", sources, trapPort, concurrency }, 120_000);
}

/** Every source probes the service once: how many get no answer (dropped). */
export function probeAll(topo: Topology, sources: readonly string[], timeoutMs = 1000, concurrency = 1000): Promise<StormResult> {
  return phase(topo, { phase: "probe", sources, timeoutMs, concurrency }, 180_000);
}
