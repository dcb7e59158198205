// fail2ban 1.0 (Debian's) with iblock as its firewall: the action that
// `iblock setup fail2ban` prints, loaded by a fail2ban-server the test starts
// with its own config, socket and in-memory database, reading a log file the
// test writes. Failed logins from the scanner make its packets dropped by
// iblock's set, recorded with source fail2ban and the jail as reason; the
// jail's unban lifts it, but never a trap ban of the same address; hostile
// "addresses", in the log or sent straight to the control socket, ban nothing.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { appendFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { sshFailure, startFail2ban } from "../support/fail2ban.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

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

test("fail2ban bans and unbans through iblock; a trap ban outlives the jail's unban; forged addresses ban nothing wide nor the host", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "fail2ban-server", "fail2ban-client"])) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { listen: "direct" });
  const socketPath = join(d.instance.stateDir, "control.sock");
  const f2b = await startFail2ban(d.instance, topo.host);
  t.after(() => f2b.server.stop("SIGTERM", 10_000));
  const { client, log } = f2b;
  const setup = await d.instance.cli("setup", ["fail2ban"]);
  assert.ok(setup.stdout.includes(`SOCKET = "${socketPath}"`), "the action names this config's control socket");

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
  // The action sends in order: a ban sent after that unban is applied after it.
  assert.equal((await client("set", "sshd", "banip", ADDR.scannerV4)).code, 0);
  await waitDropped(topo, ADDR.scannerV4, d, 20_000);
  await assertDropped(topo, ADDR.otherV4, d, "the trap ban outlived the jail's unban");
  assert.equal((await waitListed(d.instance, "192.0.2.3/32")).source, "kernel");

  // Forged log lines: fail2ban's filter reads an address out of some of them ("0.0.0.0" out of
  // "0.0.0.0/0", "192.0.2.9" out of "192.0.2.9;reboot": plain addresses, nothing more) and sends it;
  // iblock refuses the host's own (ignoreself is off, so it gets that far) and the unspecified
  // address (a DHCP client's source), and nothing wide is banned, nothing run. A real offender after them in the file shows the lines were read.
  const forged = ["0.0.0.0/0", "192.0.2.9;reboot", "$(touch /tmp/iblock-pwned)", "`touch /tmp/iblock-pwned`", ADDR.hostV4, "::/0"];
  for (const a of forged) for (let i = 0; i < 3; i++) await appendFile(log, sshFailure(a));
  for (let i = 0; i < 3; i++) await appendFile(log, sshFailure("203.0.113.77"));
  await waitListed(d.instance, "203.0.113.77/32", 30_000).catch((e: Error) => assert.fail(`${e.message}\n${f2b.server.tail(30)}`));
  const listed = (await d.instance.list()).map((e) => e.prefix).sort();
  assert.deepEqual(listed, ["192.0.2.2/32", "192.0.2.3/32", "192.0.2.9/32", "203.0.113.77/32"], "nothing else banned");
  await d.waitForLine(/warning: fail2ban: refused "192\.0\.2\.1": 192\.0\.2\.1 is in the allow list/);
  assert.equal(existsSync("/tmp/iblock-pwned"), false, "nothing was run");
  await assertServed(topo, ADDR.otherV6, d, "an innocent IPv6 source");

  // The same straight to the control socket (root's, as fail2ban is): refused, nothing banned.
  const hostile = [...forged, "evil.example", "127.0.0.1", "192.0.0.0/8", "192.0.2.9 ; reboot"];
  const res = await ask(socketPath, { cmd: "tool", source: "fail2ban", changes: hostile.map((address) => ({ op: "ban", address, reason: "sshd", time: "600s" })) });
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.deepEqual(res.result, { banned: 0, refused: hostile.length, failed: 0, released: 0, kept: 0 });
  assert.equal((await d.instance.list()).length, listed.length, "nothing new in the store");
  // A release of a ban someone else holds: kept.
  const kept = await ask(socketPath, { cmd: "tool", source: "fail2ban", changes: [{ op: "unban", address: ADDR.otherV4 }] });
  assert.deepEqual(kept.result, { banned: 0, refused: 0, failed: 0, released: 0, kept: 1 });
  await assertDropped(topo, ADDR.otherV4, d, "still dropped");

  // The daemon down: fail2ban's changes wait in the action, in order, and go when it is back.
  assert.deepEqual(await d.stop(), { code: 0, signal: null });
  assert.equal((await client("set", "sshd", "unbanip", ADDR.scannerV4)).code, 0);
  assert.equal((await client("set", "sshd", "banip", "203.0.113.78")).code, 0);
  await f2b.server.waitForLine(/iblock: .*change\(s\) wait/, 20_000);
  const back = await d.instance.start();
  await waitServed(topo, ADDR.scannerV4, back, 60_000);
  assert.equal((await waitListed(d.instance, "203.0.113.78/32", 60_000)).source, "fail2ban");
});
