// Changing ipv4_prefix is a migration (issue 9, point 6). At a restart the
// keyed ban set, whose elements meant /32s, is emptied with the new rules and
// every ban in force goes back where its length now belongs: a /32 stays a
// /32 (in the interval set) and is never adopted widened to its /24. A kernel
// ban made while the daemon was down comes back from the route's report at the
// new length. On SIGHUP the change is refused with a clear line and waits for
// the restart.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { createInstance, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { logMark, reload } from "../support/lifecycle.js";
import { createTopology } from "../support/netns.js";
import { bannedElements } from "../support/nft.js";
import { sleep } from "../support/proc.js";

// Longer than the daemon's drain of the kernel's hits (every 100 ms in its first minute) and its batching.
const SETTLE_MS = 1200;
const CANARY = "255.255.255.255";
const prefixes = async (list: Promise<{ prefix: string }[]>): Promise<string[]> => (await list).map((e) => e.prefix).sort();

void describe("a change of ipv4_prefix", () => {
  void test("at a restart moves the bans in force to the sets of their length, adopting nothing widened", async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t, { manySources: true });
    const inst = await createInstance(t, topo.host, {});
    const d1 = await inst.start();
    await assertTrapHit(topo, "198.18.7.5", 23, d1);
    await waitListed(inst, "198.18.7.5/32");
    await sleep(SETTLE_MS);
    await d1.stop();

    // While the daemon is down the kernel route still answers, bans (a /32, the old length) and reports.
    await assertTrapHit(topo, "198.18.9.9", 23);
    await assertDropped(topo, "198.18.9.9", undefined, "banned by the kernel while the daemon is down");

    await inst.writeConfig({ ipv4_prefix: 24 });
    const d2 = await inst.start();
    await d2.waitForLine(/ipv4_prefix\/ipv6_prefix changed from 32\/64 to 24\/64/, 5000);
    await waitListed(inst, "198.18.9.0/24");

    // Listed first, then put in the firewall: waited for, not given a moment.
    await waitDropped(topo, "198.18.7.5", d2, 10_000);
    await waitDropped(topo, "198.18.9.77", d2, 10_000);
    await sleep(SETTLE_MS);
    await assertServed(topo, "198.18.7.6", d2, "its neighbour: the old /32 was not widened");
    assert.deepEqual(await prefixes(inst.list()), ["198.18.7.5/32", "198.18.9.0/24"], `nothing adopted widened\n${d2.tail()}`);
    const kernelBan = (await inst.list()).find((e) => e.prefix === "198.18.9.0/24");
    assert.equal(kernelBan?.port, 23, `the kernel's ban keeps its trap port\n${d2.tail()}`);

    // The keyed set now holds /24 networks only; the /32 sits in the interval set.
    const keyed = [...(await bannedElements(topo.host, ["iblocked_v4"]))].filter((e) => e !== CANARY).sort();
    const intervals = [...(await bannedElements(topo.host, ["iblocked_net_v4"]))].filter((e) => e !== CANARY).sort();
    assert.deepEqual(keyed, ["198.18.9.0"], `keyed set after the change\n${d2.tail()}`);
    assert.deepEqual(intervals, ["198.18.7.5"], `interval set after the change\n${d2.tail()}`);

    // New bans take the new length.
    await assertTrapHit(topo, "198.18.11.5", 23, d2);
    await waitListed(inst, "198.18.11.0/24");
    await assertDropped(topo, "198.18.11.200", d2, "a neighbour of a scanner banned after the change");

    // A second restart with the same lengths empties nothing.
    await d2.stop();
    const d3 = await inst.start();
    await sleep(SETTLE_MS);
    assert.equal(d3.lines.filter((l) => /ipv4_prefix\/ipv6_prefix changed/.test(l)).length, 0, `no change, no migration\n${d3.tail()}`);
    assert.deepEqual(await prefixes(inst.list()), ["198.18.11.0/24", "198.18.7.5/32", "198.18.9.0/24"], d3.tail());
    await assertDropped(topo, "198.18.7.5", d3, "after a restart without a change");
  });

  void test("on SIGHUP is refused with a clear line, and applied at the next restart", async (t) => {
    if (!requireRoot(t)) return;
    const topo = await createTopology(t, { manySources: true });
    const inst = await createInstance(t, topo.host, {});
    const d1 = await inst.start();
    await assertTrapHit(topo, "198.18.7.5", 23, d1);
    await waitListed(inst, "198.18.7.5/32");

    // With an [http] section too: named as a section, not dumped (nor "keeping undefined").
    await inst.writeConfig({ ipv4_prefix: 24, http: { enabled: true } } as unknown as IblockConfig);
    const from = logMark(d1);
    assert.match(await reload(d1), /config reloaded/);
    await d1.waitForLine(/"ipv4_prefix" changes only with a restart; keeping 32/, 10_000, from);
    await d1.waitForLine(/SIGHUP: the \[http\] section changes only with a restart; the daemon goes on without \[http\]$/, 10_000, from);
    assert.ok(!d1.lines.slice(from).some((l) => /keeping (undefined|\{)/.test(l)), d1.tail());

    // Still /32: the trap hit after the reload bans the address alone.
    await assertTrapHit(topo, "198.18.8.5", 23, d1);
    await waitListed(inst, "198.18.8.5/32");
    await sleep(SETTLE_MS);
    await assertServed(topo, "198.18.8.6", d1, "a neighbour after the refused change");
    assert.deepEqual(await prefixes(inst.list()), ["198.18.7.5/32", "198.18.8.5/32"], d1.tail());

    await d1.stop();
    const d2 = await inst.start();
    await d2.waitForLine(/ipv4_prefix\/ipv6_prefix changed from 32\/64 to 24\/64/, 5000);
    await assertTrapHit(topo, "198.18.12.5", 23, d2);
    await waitListed(inst, "198.18.12.0/24");
    await waitDropped(topo, "198.18.12.99", d2, 10_000);
    await sleep(SETTLE_MS);
    await assertDropped(topo, "198.18.8.5", d2, "a /32 of before the change");
    await assertServed(topo, "198.18.8.6", d2, "its neighbour");
  });
});
