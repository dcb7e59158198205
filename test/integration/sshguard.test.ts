// sshguard 2.4 (Debian's) with iblock as its backend: the test runs sshguard's
// own pipeline (sshg-parser | sshg-blocker | BACKEND, as /usr/sbin/sshguard
// does) with its own flags, BACKEND being the wrapper `iblock setup sshguard`
// prints (it runs `iblock sshguard-backend`), and feeds
// it failed logins. The scanner's packets are dropped by iblock's set, the ban
// recorded with source sshguard; sshguard's release lifts it; a trap ban of
// another address stays when sshguard goes; a hostile line bans nothing.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { CLI_JS, startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

const LIBEXEC = "/usr/libexec/sshguard";

function sshFailure(addr: string): string {
  const d = new Date();
  const month = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  return `${month} ${String(d.getUTCDate()).padStart(2, " ")} ${d.toISOString().slice(11, 19)} host sshd[4242]: Invalid user admin from ${addr} port 50000\n`;
}

test("sshguard blocks and releases through iblock; its end lifts its bans only", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "sshguard"])) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { listen: "direct" });
  // sshguard's flags: 3 attacks (10 points each) block, for 4 s at first.
  const parser = spawn(`${LIBEXEC}/sshg-parser`, [], { stdio: ["pipe", "pipe", "inherit"] });
  const blocker = spawn(`${LIBEXEC}/sshg-blocker`, ["-a", "30", "-p", "4", "-s", "1800"], { stdio: ["pipe", "pipe", "inherit"] });
  // BACKEND: the wrapper `iblock setup sshguard` prints, as sshguard.conf would name it.
  const setup = await d.instance.cli("setup", ["sshguard"]);
  assert.equal(setup.code, 0, setup.stderr);
  const wrapper = join(d.instance.dir, "iblock-sshguard");
  await writeFile(wrapper, setup.stdout, { mode: 0o755 });
  const backend = spawn("ip", ["netns", "exec", topo.host, wrapper], { stdio: ["pipe", "ignore", "pipe"] });
  let backendErr = "";
  backend.stderr.on("data", (b: Buffer) => (backendErr += b.toString()));
  parser.stdout.pipe(blocker.stdin);
  blocker.stdout.pipe(backend.stdin);
  t.after(() => {
    for (const p of [parser, blocker, backend]) p.kill();
  });

  await assertTrapHit(topo, ADDR.otherV4, 23, d);
  await waitDropped(topo, ADDR.otherV4, d);
  await assertServed(topo, ADDR.scannerV4, d, "before any attack");
  for (let i = 0; i < 4; i++) parser.stdin.write(sshFailure(ADDR.scannerV4));
  // sshguard also blocks the trap-banned address: its release must leave it.
  for (let i = 0; i < 4; i++) parser.stdin.write(sshFailure(ADDR.otherV4));
  await waitDropped(topo, ADDR.scannerV4, d, 30_000);
  const entry = await waitListed(d.instance, "192.0.2.2/32");
  assert.equal(entry.source, "sshguard");
  await d.waitForLine(/blocking 192\.0\.2\.2 \(sshguard: "sshguard"\)/);

  // sshguard releases after its block time (it checks now and then): lifted, the trap ban kept.
  await waitServed(topo, ADDR.scannerV4, d, 60_000);
  await assertDropped(topo, ADDR.otherV4, d, "the trap ban outlived sshguard's release");

  // Blocked again, then sshguard stops (its pipe closes): every ban it holds is lifted, no other.
  for (let i = 0; i < 4; i++) parser.stdin.write(sshFailure(ADDR.scannerV4));
  await waitDropped(topo, ADDR.scannerV4, d, 30_000);
  parser.stdin.end();
  await waitUntil(() => backend.exitCode !== null, { timeoutMs: 20_000, what: `the backend to exit at the end of its input\n${backendErr}` });
  assert.equal(backend.exitCode, 0, backendErr);
  await waitServed(topo, ADDR.scannerV4, d, 10_000);
  await assertDropped(topo, ADDR.otherV4, d, "the trap ban stays after sshguard is gone");
  assert.equal((await waitListed(d.instance, "192.0.2.3/32")).source, "kernel");
});

test("a hostile line to the backend bans nothing", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const d = await startDaemon(t, topo.host, { listen: "direct" });
  const lines = ["block 0.0.0.0 4 0", "block 192.0.2.2;reboot 4 32", "block $(touch${IFS}/tmp/x) 4 32", "block evil.example 4 32", `block ${ADDR.hostV4} 4 32`, "block 127.0.0.1 4 32", "rm -rf / 4 32", "block 192.0.2.2 4 32 extra"];
  const backend = spawn("ip", ["netns", "exec", topo.host, process.execPath, CLI_JS, "-c", d.instance.configPath, "sshguard-backend"], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  backend.stdout.on("data", (b: Buffer) => (out += b.toString()));
  backend.stderr.on("data", (b: Buffer) => (err += b.toString()));
  backend.stdin.end(lines.join("\n") + "\n");
  await waitUntil(() => backend.exitCode !== null, { timeoutMs: 20_000, what: `the backend to exit\n${err}` });
  assert.equal(backend.exitCode, 0, err);
  assert.equal(out, "", "nothing on standard output");
  assert.deepEqual(await d.instance.list(), [], "nothing banned");
  await assertServed(topo, ADDR.scannerV4, d, "nothing dropped");
  assert.match(d.tail(), /sshguard: refused "0\.0\.0\.0\/0"/);
  assert.match(err, /ignoring "rm -rf \/ 4 32"/);
});
