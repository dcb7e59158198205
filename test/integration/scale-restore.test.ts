// A restart on a store of 100,000 bans: the control socket answers `stats`
// ("starting", with progress) while the bans go back into the kernel; a trap
// hit during the restore is banned; every stored ban ends up in the ban set;
// afterwards the streamed scan of the sets adopts a ban the kernel made while
// the daemon was down and removes one the store had ended. No one listing of
// the sets, no array of every ban.
import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { Store } from "../../src/store/store.js";
import { parsePrefix } from "../../src/net/address.js";
import { assertDropped, assertServed, waitListed } from "../support/checks.js";
import { createInstance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { Holds } from "../support/hold.js";
import { waitUntil } from "../support/proc.js";

const BANS = 100_000;
/** The i-th address of 240.0.0.0/4 (reserved, never routed: set elements only, no traffic). */
const bulk = (i: number): string => `${240 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

test(`restart on ${BANS} stored bans: stats answer while restoring, hits meanwhile are banned, all restored, scan adopts and removes`, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { trap_ports: [23] });
  // A first run makes the table; then, with the daemon down, the kernel "bans" a
  // source the store never heard of, and an element of an ended ban stays behind.
  const first = await inst.start();
  await first.stop();
  const store = new Store(join(inst.stateDir, "iblock.sqlite"));
  store.importBans([parsePrefix("203.0.113.51")], { source: "cli", reason: null, durationMs: 3_600_000 });
  store.endBan(parsePrefix("203.0.113.51"), { kind: "unban", reason: "cli" });
  await topo.execHost(["nft", "add", "element", "inet", "iblock", "iblocked_v4", "{ 203.0.113.50 timeout 1h, 203.0.113.51 timeout 1h }"]);
  const prefixes = Array.from({ length: BANS }, (_, i) => parsePrefix(bulk(i)));
  prefixes.push(parsePrefix(ADDR.otherV4)); // a stored ban whose source we can probe
  assert.equal(store.importBans(prefixes, { source: "trap", reason: null, durationMs: 3_600_000 }).length, BANS + 1);
  store.close();

  // The restore is held until the test has asked for stats and hit the trap: both
  // come during it, however fast this machine restores.
  const holds = new Holds(inst, ["restore"]);
  const d = await inst.start({ waitReady: false });
  // Ask for stats until the daemon answers with how far the restore is: the socket is
  // bound before the restore, and the trap is up from then on.
  type Status = { state: string; restoring?: { restored: number; total: number } };
  const answer = await waitUntil(async () => {
    const r = await inst.cli("stats", ["--json"]);
    const status = r.code === 0 ? (JSON.parse(r.stdout) as { daemon?: Status }).daemon : undefined;
    return status?.restoring ? status : undefined;
  }, { timeoutMs: 60_000, intervalMs: 20, what: `stats answering with the restore's progress\n${d.tail()}` });
  assert.equal(answer.state, "starting", `stats answers "starting" while restoring\n${d.tail()}`);
  assert.equal(answer.restoring?.total, BANS + 1);
  const hit = await topo.hitTrap(ADDR.scannerV4, 23);
  assert.ok(hit === "connected" || hit === "reset", `the trap answered the handshake during the restore (got ${hit})\n${d.tail()}`);
  holds.release("restore");

  // The hit during the restore may be counted too: it is in the store by the last page.
  const restored = await d.waitForLine(/restored \d+ ban\(s\)/, 60_000);
  assert.ok(Number(/restored (\d+)/.exec(restored)?.[1]) >= BANS + 1, restored);
  await d.waitForLine(/\bready\b/, 10_000);
  await assertDropped(topo, ADDR.scannerV4, d, "the hit during the restore");
  await assertDropped(topo, ADDR.otherV4, d, "a restored ban");
  await waitListed(inst, "192.0.2.2/32");

  // Every stored ban is in the kernel set.
  const listing = await topo.execHost(["nft", "list", "set", "inet", "iblock", "iblocked_v4"], { timeoutMs: 60_000 });
  const held = listing.stdout.match(/\b24\d\.\d+\.\d+\.\d+/g) ?? [];
  assert.equal(new Set(held).size, BANS);

  const scanned = await d.waitForLine(/scanned the firewall \(start\)/, 60_000);
  assert.match(scanned, /1 adopted, 1 removed/, d.lines.filter((l) => /blocking|unblocking/.test(l)).join("\n"));
  await waitListed(inst, "203.0.113.50/32");
  const after = await topo.execHost(["nft", "list", "set", "inet", "iblock", "iblocked_v4"], { timeoutMs: 60_000 });
  assert.ok(!after.stdout.includes("203.0.113.51"), "the ended ban's element is gone");
  await assertServed(topo, ADDR.otherV6, d, "an innocent source");
  assert.deepEqual(await d.stop(15_000), { code: 0, signal: null }, d.tail());
});
