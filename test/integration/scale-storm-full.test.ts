// A storm larger than the ban sets (max_bans = 1024, 1,500 distinct sources at
// once), with iblock holding no trap port (the default listen mode on
// nftables): what the full ban set cannot take is known only by the kernel
// route's reports. Nothing is lost: every source is dropped afterwards and
// covered in the store by its own ban or by the /24 the daemon bans when the
// set is full, which it says once, loudly.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology } from "../support/netns.js";
import { sleep, waitUntil } from "../support/proc.js";
import { probeAll, stormSource, trapStorm } from "../support/storm.js";

const SOURCES = 1_500;

test(`a storm of ${SOURCES} sources into ban sets of 1024: all dropped, all recorded, "full" said once`, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const d = await startDaemon(t, topo.host, { max_bans: 1024, trap_ports: [23] });
  const sources = Array.from({ length: SOURCES }, (_, i) => stormSource(i));

  const storm = await trapStorm(topo, sources, 23, SOURCES);
  assert.equal(storm.handshakes + storm.failed, SOURCES);

  // Recorded: each source by its own ban or inside a /24 ban.
  const covered = async (): Promise<{ missing: string[]; prefixes: string[] }> => {
    const prefixes = (await d.instance.list()).map((e) => e.prefix);
    const own = new Set(prefixes);
    const nets = new Set(prefixes.filter((p) => p.endsWith("/24")).map((p) => p.split(".").slice(0, 3).join(".")));
    const missing = sources.filter((s) => !own.has(`${s}/32`) && !nets.has(s.split(".").slice(0, 3).join(".")));
    return { missing, prefixes };
  };
  let last: Awaited<ReturnType<typeof covered>> = { missing: sources, prefixes: [] };
  await waitUntil(async () => (last = await covered()).missing.length === 0, { timeoutMs: 20_000, what: "every source recorded" }).catch(() => undefined);
  assert.deepEqual(last.missing.slice(0, 10), [], `${last.missing.length} source(s) not recorded\n${d.tail()}`);
  // Applied: the wide bans are in the kernel soon after they are recorded.
  await sleep(1000);
  // The storm's last hits are still being handled (and widened, the set being full)
  // when it returns: probed again, bounded, until every source is dropped.
  let probe = await probeAll(topo, sources);
  for (let i = 0; i < 10 && probe.dropped < SOURCES; i++) {
    await sleep(1000);
    probe = await probeAll(topo, sources);
  }
  assert.equal(probe.dropped, SOURCES, `dropped afterwards: ${JSON.stringify(probe)}\n${d.tail()}`);
  assert.equal(d.lines.filter((l) => l.includes("the ban set is full")).length, 1, d.tail());
  // Read again now that every source is dropped: the first listing that covered every
  // source could come before the overflow's /24s were recorded (each hit is recorded first).
  const after = (await d.instance.list()).map((e) => e.prefix);
  assert.ok(after.some((p) => p.endsWith("/24")), `the overflow was banned as /24s\n${d.tail()}`);
  assert.ok(d.running, d.tail());
  assert.deepEqual(await d.stop(15_000), { code: 0, signal: null }, d.tail());
});
