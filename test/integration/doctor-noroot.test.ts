// `iblock doctor` run by a user who cannot reach the daemon's control socket
// (issue 10, bug 4): it names the permission problem, and does not take the
// daemon's own trap listeners (which ss cannot name to that user) for services.
import assert from "node:assert/strict";
import { chmod } from "node:fs/promises";
import { test } from "node:test";
import { CLI_JS, startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { createTopology, exec } from "../support/netns.js";

void test("doctor as an unprivileged user: permission denied on the control socket, no foreign services", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "setpriv"])) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { trap_ports: [21, 23, 445], listen: "direct" });
  const inst = d.instance;
  // The unprivileged user may read the config and enter the state dir, as on a real host.
  await chmod(inst.dir, 0o755);
  await chmod(inst.configPath, 0o644);
  const r = await exec(
    topo.host,
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CLI_JS, "doctor", "-c", inst.configPath],
    { env: { PATH: process.env.PATH }, check: false, timeoutMs: 30_000 },
  );
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^PROBLEM permission denied on the control socket ${inst.stateDir}/control\\.sock: run as root$`, "m"));
  assert.doesNotMatch(r.stdout, /no daemon answers/);
  assert.doesNotMatch(r.stdout, /is served by unknown process/);
  assert.match(r.stdout, /^PROBLEM cannot tell what listens on trap port\(s\) 21, 23, 445 \(iblock's own listeners, or a service\)/m);
});
