// A ban inside a wider ban (issue 10, bugs 1 and 2): an address banned inside a
// shorter network ban keeps its own ban when the network's ends, and `show` /
// `unban` of an address the network ban holds say so instead of "not banned".
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, waitDropped, waitServed } from "../support/checks.js";
import { EX, startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { bannedElements } from "../support/nft.js";

// Holds the scanner (.2) and the other source (.3), not the host (.1).
const PAIR = "192.0.2.2/31";

void test("an address banned inside a shorter network ban outlives it, in the kernel", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host);
  const inst = d.instance;
  assert.equal((await inst.cli("ban", [PAIR, "--time", "4s"])).code, EX.OK);
  await waitDropped(topo, ADDR.scannerV4, d);
  const r = await inst.cli("ban", [ADDR.otherV4]);
  assert.equal(r.code, EX.OK, r.stderr);
  assert.equal(r.stdout, `banned ${ADDR.otherV4}\n`);
  // Its own element in the keyed set, beside the network's in the interval set.
  const elements = await bannedElements(topo.host);
  assert.ok(elements.has(ADDR.otherV4), [...elements].join(", "));
  assert.ok((await inst.list()).some((e) => e.prefix === `${ADDR.otherV4}/32`), "its own row in the store");
  // The /31 ends: the scanner is served again, the other source stays dropped.
  await waitServed(topo, ADDR.scannerV4, d, 10_000);
  await assertDropped(topo, ADDR.otherV4, d, "its own 24 h ban");
});

void test("show and unban of an address inside a network ban name the network", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  // Addresses banned alone, so the scanner's /64 is a network ban around one.
  const d = await startDaemon(t, topo.host, { ipv6_prefix: 128 });
  const inst = d.instance;
  assert.equal((await inst.cli("ban", [PAIR])).code, EX.OK);
  await waitDropped(topo, ADDR.scannerV4, d);

  const words = /covered by 192\.0\.2\.2\/31 until \d{4}-\d\d-\d\dT[\d:.]+Z; unban that prefix/;
  const show = await inst.cli("show", [ADDR.scannerV4]);
  assert.equal(show.code, EX.OK, show.stderr);
  assert.match(show.stdout, new RegExp(`^${ADDR.scannerV4}: ${words.source}`, "m"));
  const json = JSON.parse((await inst.cli("show", ["--json", ADDR.scannerV4])).stdout) as { prefixes: { covered_by?: { prefix: string } }[] };
  assert.equal(json.prefixes[0]?.covered_by?.prefix, PAIR);

  const unban = await inst.cli("unban", [ADDR.scannerV4]);
  assert.equal(unban.code, EX.DATAERR, unban.stdout + unban.stderr);
  assert.match(unban.stderr, words);
  await assertDropped(topo, ADDR.scannerV4, d, "the network ban still holds it");

  // IPv6 alike.
  assert.equal((await inst.cli("ban", ["2001:db8:0:1::/64", "--time", "2h"])).code, EX.OK);
  const v6 = await inst.cli("show", [ADDR.scannerV6]);
  assert.match(v6.stdout, /^2001:db8:0:1::2: covered by 2001:db8:0:1::\/64 until/m);
  // A network inside it, for longer: nftables cannot hold it, so it is refused with the reason.
  const nested = await inst.cli("ban", ["2001:db8:0:1::/96", "--time", "3h"]);
  assert.equal(nested.code, EX.DATAERR, nested.stdout + nested.stderr);
  assert.match(nested.stderr, /cannot ban 2001:db8:0:1::\/96 beyond the wider ban around it: covered by 2001:db8:0:1::\/64 until/);

  // Unbanning the network itself works, and frees the address.
  assert.equal((await inst.cli("unban", [PAIR])).code, EX.OK);
  await waitServed(topo, ADDR.scannerV4, d);
});
