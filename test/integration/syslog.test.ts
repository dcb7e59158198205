// `syslog = true`: the daemon's lines reach a real syslog daemon, facility daemon,
// tag iblock; a syslog that cannot be reached is said once, not retried per line.
import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertTrapHit, waitDropped } from "../support/checks.js";
import { CLI_JS, createInstance, Daemon, startDaemon, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, spawnIn, uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";
import { startSyslog } from "../support/syslog.js";

test("syslog = true sends blocking and kill-states lines to syslog", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "rsyslogd"])) return;
  const topo = await createTopology(t);
  const syslog = await startSyslog(t, topo.host);
  const d = await startDaemon(t, topo.host, { syslog: true, syslog_socket: syslog.socket });
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 192\.0\.2\.2 \(port 23\)$/);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: kill states for 192\.0\.2\.2$/);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: ready /);
});

test("a syslog socket that does not exist is reported once and logger is not started again per line", async (t) => {
  if (!requireRoot(t, ["ip"])) return;
  const ns = uniqueName("syslog");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  // The real logger, counted; --socket-errors=on is what "auto" means on a systemd host.
  const bin = await tempDir(t);
  const starts = join(bin, "starts");
  await writeFile(join(bin, "logger"), `#!/bin/sh\necho start >> ${starts}\nexec /usr/bin/logger --socket-errors=on "$@"\n`);
  await chmod(join(bin, "logger"), 0o755);
  const inst = await createInstance(t, ns, { firewall: "none", syslog: true, syslog_socket: join(bin, "no-such.sock") });
  const proc = spawnIn(ns, [process.execPath, CLI_JS, "run", "-c", inst.configPath], {
    env: { ...inst.env(), PATH: `${bin}:${process.env.PATH ?? ""}` },
  });
  const d = new Daemon(inst, proc);
  t.after(() => d.stop());
  await d.waitForLine(/\bready\b/, 20_000);
  for (let i = 1; i <= 10; i++) {
    const r = await inst.cli("ban", [`203.0.113.${i}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  await d.waitForLine(/blocking 203\.0\.113\.10\b/);
  const unreachable = d.lines.filter((l) => /syslog is unreachable/.test(l));
  assert.equal(unreachable.length, 1, d.tail());
  assert.match(unreachable[0] ?? "", /no-such\.sock/);
  const count = (await readFile(starts, "utf8")).trim().split("\n").length;
  assert.equal(count, 1, `logger started ${count} times for ${d.lines.length} lines\n${d.tail()}`);
  assert.equal((await inst.list()).length, 10);
});
