// The store cannot be written (a full disk): the
// firewall is the protection and the store the memory. Scanners are still
// banned at once (listener route, so the daemon itself makes every ban), the
// outage is logged once and counted in /metrics, and every hit is recorded
// when the store works again.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { Instance, type IblockConfig } from "../support/daemon.js";
import { fill } from "../support/disk.js";
import { requireRoot } from "../support/env.js";
import { Bridge } from "../support/http-bridge.js";
import { createTopology } from "../support/netns.js";
import { run, waitUntil } from "../support/proc.js";
import { parseMetrics } from "../support/prometheus.js";
import { probeAll, stormSource, trapStorm } from "../support/storm.js";

test("a full state dir loses no ban: banned at once, the outage said once, every hit recorded when there is room again", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const dir = await mkdtemp(join(tmpdir(), "iblock-outage-"));
  // (A read-only remount cannot be tested here: the kernel refuses it while the
  // daemon holds the store open for writing; a full disk fails the same writes.)
  await run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir]);
  const inst = new Instance(topo.host, dir);
  try {
    await inst.writeConfig({ kernel_route: false, listen: "direct", trap_ports: [23], http: { enabled: true } } as unknown as IblockConfig);
    const d = await inst.start();
    const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
    const storeErrors = async (): Promise<number | undefined> => parseMetrics((await http.request("/metrics")).text).value("iblock_store_errors_total");
    assert.equal(await storeErrors(), 0, "no store error before the disk is full");
    const filler = join(dir, "filler");
    await fill(filler, 8 * 1024 * 1024);
    // Enough sources that SQLite must grow its log (a few could fit in its free pages).
    const sources = Array.from({ length: 400 }, (_, i) => stormSource(i));
    const storm = await trapStorm(topo, sources, 23, 100);
    assert.equal(storm.handshakes, sources.length, JSON.stringify(storm));
    // Probed once the daemon has said "blocking" for each (the storm's last
    // handshakes are still being handled when it returns), with the store still full.
    await waitUntil(() => d.lines.filter((l) => / blocking 198\.18\./.test(l)).length >= sources.length, { timeoutMs: 10_000, what: "a blocking line for every source" });
    const probe = await probeAll(topo, sources);
    assert.equal(probe.dropped, sources.length, `banned while the store is full: ${JSON.stringify(probe)}\n${d.tail()}`);
    assert.equal(d.lines.filter((l) => l.includes("cannot write the store")).length, 1, d.tail());
    assert.equal(d.lines.filter((l) => /blocking 198\.18\.0\.1 /.test(l)).length, 1, "logged at once");
    const failed = (await storeErrors()) ?? 0;
    assert.ok(failed >= 1, `the failed writes are counted: iblock_store_errors_total ${failed}`);

    await rm(filler);
    await d.waitForLine(/the store works again/, 40_000);
    await waitUntil(async () => (await inst.list()).length === sources.length, { timeoutMs: 10_000, what: "every source recorded" });
    assert.equal(d.lines.filter((l) => /blocking 198\.18\.0\.1 /.test(l)).length, 1, "logged once, not again when recorded");
    assert.ok(d.running, d.tail());
    assert.deepEqual(await d.stop(15_000), { code: 0, signal: null }, d.tail());
  } finally {
    await inst.cleanup().catch(() => undefined);
    await run(["umount", "-l", dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
