// An import whose firewall load nft refuses (issue 8): every ban is recorded
// at once, the load's bans are retried one by one, and once nft works again
// every one of them is in the kernel and dropped, without anyone asking.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { BrokenNft } from "../support/broken-nft.js";
import { assertServed, waitDropped } from "../support/checks.js";
import { createInstance, EX } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { logMark } from "../support/lifecycle.js";
import { ADDR, createTopology } from "../support/netns.js";
import { bannedElements, countV4Within } from "../support/nft.js";
import { sleep } from "../support/proc.js";

// Few: with nft failing, each retry splits the batch down to single bans (a process each).
const BULK = 300;

test("import: a load nft refuses is retried ban by ban; once nft works every imported ban is dropped", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const nft = await BrokenNft.create(t);
  const inst = await createInstance(t, topo.host, { trap_ports: [23] });
  inst.extraEnv = { PATH: nft.path };
  const d = await inst.start();
  const file = join(inst.dir, "list.txt");
  const bulk = Array.from({ length: BULK }, (_, i) => `198.18.${i >> 7}.${(i & 127) + 1}`);
  await writeFile(file, [...bulk, ADDR.scannerV4, ADDR.otherV4].join("\n") + "\n");

  await nft.break(topo.host);
  const from = logMark(d);
  const r = await inst.cli("import", [file], 60_000);
  assert.equal(r.code, EX.OK, `${r.stderr}\n${d.tail()}`);
  assert.match(r.stdout, new RegExp(`imported ${BULK + 2} ban\\(s\\) from ${BULK + 2} line\\(s\\)`));
  await d.waitForLine(new RegExp(`import: the firewall refused a batch of ${BULK + 2}, retrying one by one`), 10_000, from);
  assert.equal((await inst.list()).length, BULK + 2, "all recorded while nft fails");
  await sleep(1000);
  await assertServed(topo, ADDR.scannerV4, d, "nft fails: not in the kernel yet");

  await nft.heal();
  await waitDropped(topo, ADDR.scannerV4, d, 20_000);
  await waitDropped(topo, ADDR.otherV4, d);
  const held = await bannedElements(topo.host);
  assert.equal(countV4Within(held, "198.18.0.0/15"), BULK, "every imported ban is in the kernel");
  assert.ok(!d.lines.slice(from).some((l) => /blocking 198\.18\./.test(l)), "no log line each");
  assert.ok(d.running, d.tail());
});
