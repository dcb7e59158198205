// The allow list: a source in `allow` that touches a trap port is never banned
// (not dropped, not listed), over IPv4 and IPv6, by the kernel route and by the
// listener; `iblock ban` of an allowed address is refused (exit 65, naming the
// allow list); and a SIGHUP that adds a banned source's network to `allow`
// lifts that ban.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, assertTrapAnswered, assertTrapHit, blockingRe, linesMatching, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { createInstance, EX, startDaemon, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { reload } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";
import { sleep } from "../support/proc.js";

/** A scanner source outside the allow list the reload adds. */
const OUTSIDE = "192.0.2.10";
// Longer than the daemon's drain of the kernel's hits (every 100 ms in its first minute) and a listener's ban.
const SETTLE_MS = 1500;

for (const kernelRoute of [true, false]) {
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";
  const base: IblockConfig = kernelRoute ? {} : { kernel_route: false };

  void describe(`allow list, ${route}`, () => {
    void test("allowed sources touching trap ports are never banned; others still are", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, { ...base, allow: [`${ADDR.scannerV4}/32`, "2001:db8:0:1::/64"] });

      for (const src of [ADDR.scannerV4, ADDR.scannerV6, ADDR.scannerV6Sibling]) {
        for (const port of [23, 445]) await assertTrapAnswered(topo, src, port, d);
      }
      await sleep(SETTLE_MS);
      for (const src of [ADDR.scannerV4, ADDR.scannerV6, ADDR.scannerV6Sibling]) await assertServed(topo, src, d, "allowed, after trap hits");
      const listed = await d.instance.list();
      assert.deepEqual(listed, [], `nothing is listed\n${d.tail()}`);
      assert.equal(linesMatching(d, /\bblocking /).length, 0, `no "blocking" line\n${d.tail()}`);

      // The daemon is not simply idle: sources outside `allow` are still banned.
      for (const src of [ADDR.otherV4, ADDR.otherV6]) {
        await assertTrapHit(topo, src, 23, d);
        if (kernelRoute) await assertDropped(topo, src, d, "not allowed");
        else await waitDropped(topo, src, d);
      }
      await waitListed(d.instance, "192.0.2.3/32");
      await waitListed(d.instance, "2001:db8:0:2::/64");
      for (const src of [ADDR.scannerV4, ADDR.scannerV6]) await assertServed(topo, src, d, "still allowed");
    });

    void test("an allowed address inside a scanner's /64 is not swallowed by the /64 ban", async (t) => {
      if (!requireRoot(t)) return;
      const topo = await createTopology(t);
      const d = await startDaemon(t, topo.host, { ...base, allow: [`${ADDR.scannerV6Sibling}/128`] });

      await assertTrapHit(topo, ADDR.scannerV6, 23, d);
      // In a /64 that holds an allowed address the kernel only reports the hit
      // and the daemon bans the address alone, so this ban comes from the drain.
      await waitDropped(topo, ADDR.scannerV6, d);
      await sleep(SETTLE_MS);
      await assertDropped(topo, ADDR.scannerV6, d, "the scanner, a moment later");
      await assertServed(topo, ADDR.scannerV6Sibling, d, "allowed, in the scanner's /64");
      await assertServed(topo, ADDR.otherV6, d, "another /64");
      const prefixes = (await d.instance.list()).map((e) => e.prefix);
      assert.ok(
        prefixes.some((p) => p === "2001:db8:0:1::2/128" || p === "2001:db8:0:1::/64"),
        `the scanner is listed: ${prefixes.join(", ")}\n${d.tail()}`,
      );

      // What is listed is what is dropped: unbanning the scanner lets it in again
      // (a /64 the kernel added behind the daemon's back would keep it out, unlisted).
      const r = await d.instance.cli("unban", [ADDR.scannerV6]);
      assert.equal(r.code, EX.OK, `iblock unban ${ADDR.scannerV6}: ${r.stderr}`);
      assert.deepEqual(await d.instance.list(), [], "nothing listed after the unban");
      const nft = await topo.execHost(["nft", "list", "table", "inet", "iblock"]);
      try {
        await waitServed(topo, ADDR.scannerV6, d);
      } catch (e) {
        assert.fail(`${(e as Error).message}\n--- nft list table inet iblock ---\n${nft.stdout}`);
      }
    });
  });
}

void test("iblock ban of an allowed address is refused with exit 65, naming the allow list", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { allow: [`${ADDR.scannerV4}/32`, "2001:db8:0:1::/64"] });

  for (const addr of [ADDR.scannerV4, "192.0.2.0/24", ADDR.scannerV6Sibling, "2001:db8::/32"]) {
    const r = await d.instance.cli("ban", [addr]);
    assert.equal(r.code, EX.DATAERR, `iblock ban ${addr}: exit ${String(r.code)}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /allow/i, `iblock ban ${addr}: the message names the allow list: ${r.stderr}`);
  }
  assert.deepEqual(await d.instance.list(), [], "nothing was banned");
  await assertServed(topo, ADDR.scannerV4, d);
  await assertServed(topo, ADDR.scannerV6, d);

  // An address outside `allow` is banned as usual.
  const ok = await d.instance.cli("ban", [ADDR.otherV4]);
  assert.equal(ok.code, EX.OK, `iblock ban ${ADDR.otherV4}: ${ok.stderr}`);
  await assertDropped(topo, ADDR.otherV4, d, "banned with iblock ban");
});

for (const kernelRoute of [true, false]) {
  const route = kernelRoute ? "kernel route (default)" : "listener only (kernel_route = false)";
  const base: IblockConfig = kernelRoute ? {} : { kernel_route: false };

  void test(`a SIGHUP that adds a banned source's network to allow lifts its ban, ${route}`, async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t, { extraV4: [OUTSIDE] });
    const inst = await createInstance(t, topo.host, base);
    const d = await inst.start();

    for (const src of [ADDR.scannerV4, ADDR.scannerV6, ADDR.otherV4, OUTSIDE]) {
      await assertTrapHit(topo, src, 23, d);
      await waitDropped(topo, src, d);
    }
    await waitListed(inst, "192.0.2.2/32");
    await waitListed(inst, "2001:db8:0:1::/64");
    await waitListed(inst, "192.0.2.3/32");
    await waitListed(inst, `${OUTSIDE}/32`);

    // 192.0.2.0/30 holds the scanner (.2) and the other source (.3), not OUTSIDE.
    await inst.writeConfig({ ...base, allow: ["192.0.2.0/30", "2001:db8:0:1::/64"] });
    const answer = await reload(d);
    assert.match(answer, /SIGHUP: config reloaded/, `the new config is taken\n${d.tail()}`);

    await waitServed(topo, ADDR.scannerV4, d);
    await waitServed(topo, ADDR.scannerV6, d);
    await waitServed(topo, ADDR.otherV4, d);
    await assertServed(topo, ADDR.scannerV6Sibling, d, "the whole /64 is allowed now");
    await d.waitForLine(/unblocking 192\.0\.2\.2(\/32)? \(allowed\)/, 10_000);
    const prefixes = (await inst.list()).map((e) => e.prefix);
    for (const gone of ["192.0.2.2/32", "192.0.2.3/32", "2001:db8:0:1::/64"]) {
      assert.ok(!prefixes.includes(gone), `${gone} is allowed now and no longer listed: ${prefixes.join(", ")}\n${d.tail()}`);
    }
    // A ban the new allow list does not cover stays.
    assert.ok(prefixes.includes(`${OUTSIDE}/32`), `${OUTSIDE} is still listed: ${prefixes.join(", ")}`);
    await assertDropped(topo, OUTSIDE, d, "not covered by the new allow list");

    // And the newly allowed source is not banned again by another trap hit.
    const blocks = linesMatching(d, blockingRe(ADDR.scannerV4)).length;
    await assertTrapAnswered(topo, ADDR.scannerV4, 445, d);
    await assertTrapAnswered(topo, ADDR.scannerV6, 445, d);
    await sleep(SETTLE_MS);
    await assertServed(topo, ADDR.scannerV4, d, "allowed after the reload, trap hit again");
    await assertServed(topo, ADDR.scannerV6, d, "allowed after the reload, trap hit again");
    assert.equal(linesMatching(d, blockingRe(ADDR.scannerV4)).length, blocks, `no new "blocking" line\n${d.tail()}`);
    assert.ok(d.running, `the daemon is still running\n${d.tail()}`);
  });
}
