// The original's setup on Linux: Debian's openbsd-inetd (OpenBSD's inetd) runs
// iblock for each connection to port 666, with the original's two inetd.conf
// lines; nftables underneath, a real rsyslogd for the log line.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { plantedStoreLink } from "../support/planted.js";
import { stringify } from "smol-toml";
import { assertServed, waitDropped } from "../support/checks.js";
import { CLI_JS, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, exec } from "../support/netns.js";
import { LineProcess, run } from "../support/proc.js";
import { startOneShotRunner } from "../support/one-shot.js";
import { startSyslog } from "../support/syslog.js";

const INETD_PORT = 666;
const ENV_PORT = 667;
// Connects to 127.0.0.1:PORT and prints what the service writes until it closes.
const READ_ALL = `const s = require("node:net").connect(Number(process.argv[1]), "127.0.0.1");
s.on("data", (b) => process.stdout.write(b)); s.on("error", (e) => { console.error(e.message); process.exitCode = 1; });`;

test("inetd: the original's inetd.conf lines ban IPv4 and IPv6 scanners and log to syslog", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "inetd", "rsyslogd"])) return;
  requireBuild();
  const topo = await createTopology(t);
  const syslog = await startSyslog(t, topo.host);
  const dir = await tempDir(t);
  const config = join(dir, "iblock.toml");
  await writeFile(config, stringify({ state_dir: join(dir, "state"), syslog_socket: syslog.socket }));
  await chmod(CLI_JS, 0o755);
  // The original's lines, but as root: there is no _iblock user on a test machine.
  // A third service prints the environment inetd hands its services.
  const conf = join(dir, "inetd.conf");
  await writeFile(
    conf,
    `${INETD_PORT} stream tcp nowait root ${CLI_JS} iblock blocked_tcp\n` +
      `${INETD_PORT} stream tcp6 nowait root ${CLI_JS} iblock blocked_tcp\n` +
      `${ENV_PORT} stream tcp nowait root /usr/bin/env env\n`,
  );
  // No -E: inetd launders the environment as Debian runs it, so iblock gets no
  // PATH at all (IBLOCK_CONFIG survives: it is not on inetd's list).
  const env: NodeJS.ProcessEnv = { ...process.env, IBLOCK_CONFIG: config };
  const inetd = topo.spawn(topo.host, ["/usr/sbin/inetd", "-d", conf], { env });
  t.after(() => inetd.stop("SIGTERM", 5000));
  await inetd.waitForLine(/666|tcp6|listen|ADD/i, 5000).catch(() => undefined);
  const seen = await exec(topo.host, [process.execPath, "-e", READ_ALL, String(ENV_PORT)], { timeoutMs: 10_000 });
  assert.match(seen.stdout, /^IBLOCK_CONFIG=/m, `inetd's services should get IBLOCK_CONFIG:\n${seen.stdout}${seen.stderr}`);
  assert.doesNotMatch(seen.stdout, /^PATH=/m, "inetd's services should get no PATH");

  for (const [scanner, dst] of [
    [ADDR.scannerV4, ADDR.hostV4],
    [ADDR.scannerV6, ADDR.hostV6],
  ] as const) {
    await assertServed(topo, scanner, undefined, "before it scans");
    const r = await topo.probe({ src: scanner, dst, port: INETD_PORT, timeoutMs: 2000 });
    assert.ok(r === "connected" || r === "reset", `connect to inetd's ${INETD_PORT} from ${scanner}: ${r}\n${inetd.tail()}`);
    await waitDropped(topo, scanner, undefined, 5000);
  }
  await assertServed(topo, ADDR.otherV4, undefined, "an innocent source");
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 192\.0\.2\.2$/);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 2001:db8:0:1::\/64$/);

  // The table TABLE given on the inetd.conf line is the one used.
  const sets = (await run(["ip", "netns", "exec", topo.host, "nft", "list", "set", "inet", "iblock", "blocked_tcp_v4"])).stdout;
  assert.match(sets, /192\.0\.2\.2/);
});

test("run by hand with no TCP socket on stdin it prints usage and exits 1", async () => {
  requireBuild();
  for (const stdin of [false, true]) {
    const proc = LineProcess.start([process.execPath, CLI_JS], { stdin });
    const exit = await proc.exited;
    assert.equal(exit.code, 1, proc.tail());
    assert.match(proc.tail(200), /Usage: iblock/);
  }
});

test("inetd: a store planted as a link is never opened: the ban goes on, unrecorded, the link's target untouched", async (t) => {
  if (!requireRoot(t, ["ip", "rsyslogd"])) return;
  const topo = await createTopology(t);
  const syslog = await startSyslog(t, topo.host);
  const { stateDir, target, config, env } = await plantedStoreLink(await tempDir(t), { syslog_socket: syslog.socket });
  const inetd = await startOneShotRunner(topo, topo.host, config, INETD_PORT, env);
  const r = await topo.probe({ src: ADDR.scannerV4, dst: ADDR.hostV4, port: INETD_PORT, timeoutMs: 2000 });
  assert.ok(r === "connected" || r === "reset", `the one-shot's port from ${ADDR.scannerV4}: ${r}`);
  assert.equal(await inetd.waitForLine(/^exit \d+$/, 15_000), "exit 0", inetd.tail());
  const warning = await syslog.waitFor(/not recording this ban/);
  assert.ok(warning.startsWith("daemon.warning ") && warning.includes(`${join(stateDir, "iblock.sqlite")} is a symbolic link`), warning);
  assert.equal(readFileSync(target, "utf8"), "", "the target is not made a store");
});
