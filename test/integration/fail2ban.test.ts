// fail2ban 1.0 (Debian's) with iblock as its firewall: the action that
// `iblock setup fail2ban` prints, loaded by a fail2ban-server the test starts
// with its own config, socket and in-memory database, reading a log file the
// test writes. Failed logins from the scanner make its packets dropped by
// iblock's set, recorded with source fail2ban and the jail as reason; the
// jail's unban lifts it, but never a trap ban of the same address; hostile
// "addresses" ban nothing.
import assert from "node:assert/strict";
import { appendFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "node:net";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { startDaemon, type Daemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, spawnIn } from "../support/netns.js";
import { run, waitUntil } from "../support/proc.js";

function sshFailure(addr: string): string {
  // syslog's date, which fail2ban's sshd filter reads: "Dec  6 22:00:01".
  const d = new Date();
  const month = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  const time = d.toISOString().slice(11, 19);
  return `${month} ${String(d.getUTCDate()).padStart(2, " ")} ${time} host sshd[4242]: Failed password for root from ${addr} port 50000 ssh2\n`;
}

/** The daemon's control socket, as the action uses it: one JSON request, one answer. */
function ask(socketPath: string, req: unknown): Promise<{ ok: boolean; result?: Record<string, number>; error?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let buf = "";
    s.setEncoding("utf8");
    s.on("connect", () => s.write(JSON.stringify(req) + "\n"));
    s.on("data", (d: string) => (buf += d));
    s.on("end", () => resolve(JSON.parse(buf) as { ok: boolean }));
    s.on("error", reject);
  });
}

test("fail2ban bans and unbans through iblock; a trap ban outlives the jail's unban; hostile addresses ban nothing", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "fail2ban-server", "fail2ban-client"])) return;
  const topo = await createTopology(t);
  const d: Daemon = await startDaemon(t, topo.host, { listen: "direct" });
  const dir = d.instance.dir;
  const socketPath = join(d.instance.stateDir, "control.sock");
  const conf = join(dir, "fail2ban");
  const log = join(dir, "auth.log");
  const f2bSocket = join(dir, "fail2ban.sock");
  await mkdir(join(conf, "action.d"), { recursive: true });
  await symlink("/etc/fail2ban/filter.d", join(conf, "filter.d"));
  const setup = await d.instance.cli("setup", ["fail2ban"]);
  assert.equal(setup.code, 0, setup.stderr);
  assert.match(setup.stdout, new RegExp(`SOCKET = "${socketPath}"`));
  await writeFile(join(conf, "action.d", "iblock.py"), setup.stdout);
  await writeFile(join(conf, "fail2ban.conf"), `[Definition]\nloglevel = INFO\nlogtarget = STDOUT\nsocket = ${f2bSocket}\npidfile = ${join(dir, "fail2ban.pid")}\ndbfile = :memory:\n`);
  await writeFile(
    join(conf, "jail.conf"),
    `[DEFAULT]\nbackend = polling\nbanaction = iblock.py\n\n[sshd]\nenabled = true\nfilter = sshd\nlogpath = ${log}\nmaxretry = 3\nfindtime = 600\nbantime = 600\naction = %(banaction)s\n`,
  );
  await writeFile(log, "");
  const server = spawnIn(topo.host, ["fail2ban-server", "-f", "-x", "-c", conf, "-s", f2bSocket, "-p", join(dir, "fail2ban.pid")]);
  t.after(() => server.stop("SIGTERM", 10_000));
  const client = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run(["fail2ban-client", "-c", conf, "-s", f2bSocket, ...args]);
  await waitUntil(async () => (await client("status", "sshd")).code === 0, { timeoutMs: 30_000, what: `fail2ban's sshd jail\n${server.tail()}` });

  // Three failed logins: the scanner is dropped, recorded as fail2ban's, with the jail and its bantime.
  await assertServed(topo, ADDR.scannerV4, d, "before any failed login");
  for (let i = 0; i < 3; i++) await appendFile(log, sshFailure(ADDR.scannerV4));
  await waitDropped(topo, ADDR.scannerV4, d, 30_000);
  const entry = await waitListed(d.instance, "192.0.2.2/32");
  assert.equal(entry.source, "fail2ban");
  assert.equal(entry.reason, "sshd");
  const left = Date.parse(String(entry.expires)) - Date.now();
  assert.ok(left > 500_000 && left <= 600_000, `expires with the jail's bantime (600 s): ${String(entry.expires)}`);
  await d.waitForLine(/blocking 192\.0\.2\.2 \(fail2ban: "sshd"\)/);
  await assertServed(topo, ADDR.otherV4, d, "an innocent source");

  // The jail's unban lifts it.
  assert.equal((await client("set", "sshd", "unbanip", ADDR.scannerV4)).code, 0);
  await waitServed(topo, ADDR.scannerV4, d, 20_000);
  assert.ok(!(await d.instance.list()).some((e) => e.prefix === "192.0.2.2/32"), "no longer in force in the store");

  // A trap ban is the host's own proof: the jail banning and unbanning the same address leaves it.
  await assertTrapHit(topo, ADDR.otherV4, 23, d);
  await waitDropped(topo, ADDR.otherV4, d);
  assert.equal((await client("set", "sshd", "banip", ADDR.otherV4)).code, 0);
  assert.equal((await client("set", "sshd", "unbanip", ADDR.otherV4)).code, 0);
  await waitUntil(async () => (await client("status", "sshd")).stdout.includes("Currently banned:\t0"), { timeoutMs: 20_000, what: "the jail's unban" });
  // The action sends in order: a ban sent after the unban is applied after it.
  assert.equal((await client("set", "sshd", "banip", ADDR.scannerV4)).code, 0);
  await waitDropped(topo, ADDR.scannerV4, d, 20_000);
  await assertDropped(topo, ADDR.otherV4, d, "the trap ban outlived the jail's unban");
  const trap = await waitListed(d.instance, "192.0.2.3/32");
  assert.equal(trap.source, "kernel");

  // Hostile "addresses" (what a forged log or a rogue client could hand over): refused, nothing banned.
  const before = (await d.instance.list()).length;
  const hostile = ["0.0.0.0/0", "192.0.2.9; reboot", "$(touch /tmp/pwned)", "evil.example", "127.0.0.1", ADDR.hostV4, "::/0"];
  const res = await ask(socketPath, { cmd: "tool", source: "fail2ban", changes: hostile.map((address) => ({ op: "ban", address, reason: "sshd", time: "600s" })) });
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.equal(res.result?.refused, hostile.length, JSON.stringify(res));
  assert.equal(res.result?.banned, 0);
  assert.equal((await d.instance.list()).length, before, "nothing new in the store");
  await assertServed(topo, ADDR.otherV6, d, "nothing else dropped");
  // A release of a ban someone else holds, through the socket too: kept.
  const kept = await ask(socketPath, { cmd: "tool", source: "fail2ban", changes: [{ op: "unban", address: ADDR.otherV4 }] });
  assert.deepEqual(kept.result, { banned: 0, refused: 0, failed: 0, released: 0, kept: 1 });
  await assertDropped(topo, ADDR.otherV4, d, "still dropped");
});
