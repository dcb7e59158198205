// The daemon under what the generated systemd unit gives it (there is no systemd
// as PID 1 here to start the unit itself): an unprivileged user with only
// CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (ambient, bounding set cut to those,
// no_new_privs), and a /proc that hides other users' processes and everything
// but process directories (ProtectProc=invisible, ProcSubset=pid). It must still
// set up nftables, skip a trap port a root service uses, and ban a scanner.
// Not emulated: the system call filter and the read-only file system.
import assert from "node:assert/strict";
import { chmod, chown, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertTrapHit, waitDropped } from "../support/checks.js";
import { CLI_JS, createInstance, Daemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, spawnIn } from "../support/netns.js";

const NOBODY = 65534;
const CAPS = "-all,+net_admin,+net_bind_service";
// A fixed script; the program to run comes in as "$@", never pasted into the script.
const PROC_AS_UNIT = 'mount -t proc -o hidepid=invisible,subset=pid proc /proc && exec "$@"';

test("the daemon works with only the unit's user, capabilities and /proc", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "conntrack", "setpriv"])) return;
  const topo = await createTopology(t);
  const ftp = topo.spawnNode(topo.host, `require("node:net").createServer((s) => s.end()).listen(21, "0.0.0.0", () => console.log("listening"));`);
  t.after(() => ftp.stop("SIGTERM", 5000));
  await ftp.waitForLine(/listening/, 5000);
  const inst = await createInstance(t, topo.host);
  await chmod(inst.dir, 0o755);
  await chown(inst.stateDir, NOBODY, NOBODY);
  const argv = [
    "sh", "-c", PROC_AS_UNIT, "sh",
    "setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups",
    `--inh-caps=${CAPS}`, `--ambient-caps=${CAPS}`, `--bounding-set=${CAPS}`, "--no-new-privs",
    process.execPath, CLI_JS, "run", "-c", inst.configPath,
  ];
  const proc = spawnIn(topo.host, argv, { env: inst.env() });
  const d = new Daemon(inst, proc);
  t.after(() => d.stop());
  await d.waitForLine(/\bready\b/, 20_000);
  await d.waitForLine(/trap port 21 skipped/, 10_000);

  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await d.waitForLine(/kill states for 192\.0\.2\.2/, 5000);
  assert.ok(!d.lines.some((l) => /warning: .*(kill|conntrack|ss -K|nft)/i.test(l)), d.tail());
  const listed = await inst.list();
  assert.deepEqual(listed.map((b) => b.prefix), ["192.0.2.2/32"]);
  const db = await stat(join(inst.stateDir, "iblock.sqlite"));
  assert.equal(db.uid, NOBODY);
  assert.equal((db.mode & 0o777).toString(8), "640");
});
