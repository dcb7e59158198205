// Hostile messages in the fleet's stream: a wrong HMAC, a message signed with
// our own name that we never sent, a /0, allowed addresses, garbage fields and
// a 10 MB field are each refused with one log line and change nothing; a good
// message after them is applied (the reader is still going).
import assert from "node:assert/strict";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_NAME, SERVICE_PORT, signFields } from "../support/fleet.js";
import { bannedElements } from "../support/nft.js";
import { waitUntil } from "../support/proc.js";

const KEY = `iblock:{${FLEET_NAME}}:events`;

// Each message a sequence after the last, as a host signs them (seq.ts); one
// dated by the test has the sequence its origin gave it then (an old message).
let lastSeq = 0;

function message(fields: Partial<Record<string, string>>): Record<string, string> {
  const at = fields.at ?? String(Date.now());
  lastSeq = fields.at === undefined ? Math.max(lastSeq + 1, Number(at) * 1000) : Number(at) * 1000;
  const m: Record<string, string> = { origin: "z", kind: "ban", prefix: "198.18.200.1/32", expires: "", reason: "trap", port: "23", at, seq: String(lastSeq), ...fields };
  return { ...m, hmac: signFields(m) };
}

const flat = (m: Record<string, string>): string[] => Object.entries(m).flat();

void test("a secret file others may read refuses the start (78) and changes nothing", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server"])) return;
  const fleet = await Fleet.create(t);
  const loose = join(fleet.dir, "loose.key");
  await writeFile(loose, "0123456789abcdef0123456789abcdef\n");
  await chmod(loose, 0o644);
  const a = await fleet.host(t, "a", {}, { secret_file: loose });
  const d = await a.start({ waitReady: false });
  const exit = await d.proc.exited;
  assert.equal(exit.code, 78, d.tail());
  assert.match(d.tail(), /secret_file: .*loose\.key has mode 0644: expected 0600/);
  assert.deepEqual(await fleet.stream(), [], "nothing published");
});

void test("hostile messages are each refused with one line and change nothing", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  // `ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf: B's resolver.
  const etc = join("/etc/netns", fleet.ns.b);
  await mkdir(etc, { recursive: true });
  t.after(() => rm(etc, { recursive: true, force: true }));
  await writeFile(join(etc, "resolv.conf"), "nameserver 198.18.200.53\n");
  const b = await fleet.host(t, "b", { allow: ["203.0.113.0/24"] });
  let db = await b.start();
  await db.waitForLine(/caught up from the snapshot/, 10_000);
  const listed = async (): Promise<string[]> => (await b.list()).map((e) => e.prefix).sort();
  // The sets' fixed elements (placeholders), no ban.
  const nftBefore = [...(await bannedElements(fleet.ns.b))].sort();

  const hostile: { what: string; args: string[]; input?: string; why: RegExp }[] = [
    { what: "a wrong HMAC", args: flat({ ...message({}), hmac: "0".repeat(64) }), why: /wrong hmac/ },
    { what: "our own name, never sent by us", args: flat(message({ origin: "b", prefix: "198.18.200.2/32" })), why: /origin "b" is this host/ },
    { what: "a /0", args: flat(message({ prefix: "0.0.0.0/0" })), why: /wider than \/16/ },
    { what: "an allowed address", args: flat(message({ prefix: "203.0.113.7/32" })), why: /allow list/ },
    { what: "loopback", args: flat(message({ prefix: "127.0.0.1/32" })), why: /allow list/ },
    { what: "this host's resolver", args: flat(message({ prefix: "198.18.200.0/24" })), why: /ban of 198\.18\.200\.0\/24 from z covers this host's resolver 198\.18\.200\.53 \(\/etc\/resolv\.conf\)/ },
    { what: "garbage kind", args: flat(message({ kind: "zap" })), why: /kind "zap"/ },
    { what: "garbage prefix", args: flat(message({ prefix: "203.0.113.9; reboot" })), why: /prefix/ },
    { what: "garbage expiry", args: flat(message({ expires: "soon" })), why: /expires "soon"/ },
    { what: "a field too many", args: [...flat(message({})), "extra", "1"], why: /unexpected field "extra"/ },
    { what: "a field missing", args: ["origin", "z", "kind", "ban"], why: /no hmac field/ },
    { what: "a 10 MB field", args: [...flat(message({})), "pad"], input: "x".repeat(10 * 1024 * 1024), why: /field "pad" is 10485760 bytes/ },
  ];
  for (const h of hostile) {
    const from = db.lines.length;
    await fleet.redisCli(["XADD", KEY, "*", ...h.args], h.input);
    const line = await db.waitForLine(/cluster: refused/, 5_000, from).catch(() => assert.fail(`${h.what}: no refusal line\n${db.tail()}`));
    assert.match(line, h.why, `${h.what}: the line says why`);
  }
  // A good message after them all: applied, so the reader went on reading.
  const good = "198.18.200.9";
  await fleet.redisCli(["XADD", KEY, "*", ...flat(message({ prefix: `${good}/32` }))]);
  await fleet.waitDropped(good, "b").catch((e: Error) => assert.fail(`${e.message}\n${db.tail()}`));
  assert.deepEqual(await listed(), [`${good}/32`], "only the good message made a ban");
  assert.equal(linesMatching(db, /cluster: refused/).length, hostile.length, `exactly one line per hostile message\n${db.tail()}`);
  assert.deepEqual([...(await bannedElements(fleet.ns.b))].sort(), [...nftBefore, good].sort(), "nothing else in the firewall");
  // Replays: signed messages copied back into the stream. Each is refused with a line; the ban stays.
  const now = Date.now();
  const replays: { what: string; m: Record<string, string>; why: RegExp }[] = [
    { what: "an unban older than the ban", m: message({ kind: "unban", prefix: `${good}/32`, expires: "", port: "", at: String(now - 86_400_000) }), why: /not after \d+ of its last message: a replay/ },
    { what: "an unban from a host whose ban it is not", m: message({ origin: "y", kind: "unban", prefix: `${good}/32`, expires: "", port: "", at: String(now) }), why: /whose ban it is not/ },
    { what: "an old ban of its origin", m: message({ prefix: "198.18.200.10/32", at: String(now - 3_600_000) }), why: /not after \d+ of its last message: a replay/ },
  ];
  for (const r of replays) {
    const from = db.lines.length;
    await fleet.redisCli(["XADD", KEY, "*", ...flat(r.m)]);
    const line = await db.waitForLine(/cluster: refused/, 5_000, from).catch(() => assert.fail(`${r.what}: no refusal line\n${db.tail()}`));
    assert.match(line, r.why, `${r.what}: the line says why`);
  }
  assert.deepEqual(await listed(), [`${good}/32`], "no replay changed the bans");
  assert.equal(await fleet.probe(good, "b", SERVICE_PORT, 1000), "timeout", `${good} still dropped`);
  // The real unban, from the host that made the ban: applied.
  await fleet.redisCli(["XADD", KEY, "*", ...flat(message({ kind: "unban", prefix: `${good}/32`, expires: "", port: "", at: String(Date.now()) }))]);
  await waitUntil(async () => (await listed()).length === 0, { timeoutMs: 15_000, what: "the real unban applied" });
  // A restart forgets nothing of that: an old message of the same origin is still a replay.
  await db.stop();
  db = await b.start();
  await db.waitForLine(/cluster: connected to Redis/, 10_000);
  await fleet.redisCli(["XADD", KEY, "*", ...flat(message({ prefix: "198.18.200.11/32", at: String(Date.now() - 3_600_000) }))]);
  const afterRestart = await db.waitForLine(/cluster: refused/, 5_000).catch(() => assert.fail(`an old ban after a restart: no refusal line\n${db.tail()}`));
  assert.match(afterRestart, /not after \d+ of its last message: a replay/);
  assert.deepEqual(await listed(), [], "the replay after the restart changed nothing");

  // The spoofed and allowed addresses are still served.
  for (const src of ["198.18.200.1", "198.18.200.2"]) assert.equal(await fleet.probe(src, "b", SERVICE_PORT, 2000), "connected", `${src} still served`);
  await waitUntil(() => db.running, { timeoutMs: 100, what: "B still running" });
});
