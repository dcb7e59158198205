// A running daemon holding two bans of two kinds, as doctor and teardown tests start.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { assertTrapHit, waitDropped, waitListed } from "./checks.js";
import { createInstance, type Daemon, type Instance } from "./daemon.js";
import { ADDR, type Topology } from "./netns.js";

/** The scanner's trap hit (192.0.2.2, port 445) dropped, and 198.51.100.0/24 banned by hand (`banArgs` added): both listed. */
export async function daemonWithTwoBans(t: TestContext, topo: Topology, banArgs: readonly string[] = []): Promise<{ inst: Instance; d: Daemon }> {
  const inst = await createInstance(t, topo.host);
  const d = await inst.start();
  await assertTrapHit(topo, ADDR.scannerV4, 445, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  const ban = await inst.cli("ban", ["198.51.100.0/24", ...banArgs]);
  assert.equal(ban.code, 0, ban.stderr);
  await waitListed(inst, "192.0.2.2/32");
  await waitListed(inst, "198.51.100.0/24");
  return { inst, d };
}
