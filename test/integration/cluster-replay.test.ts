// Orders forged without the secret, or with it: a verbatim copy of a lifted
// ban put back into the stream, or into the snapshot with a trimmed stream
// forcing a catch-up; catch-ups forced again and again; a message dated ten
// years ahead to silence a host, and such a mark kept across a restart.
// Every copy is taken from Redis as host A wrote it, never signed by the test.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_NAME, SERVICE_PORT, signFields, TRAP_PORT } from "../support/fleet.js";
import { waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

const EVENTS = `iblock:{${FLEET_NAME}}:events`;
const DETAILS = `iblock:{${FLEET_NAME}}:snapshot`;
const EXPIRY = `iblock:{${FLEET_NAME}}:snapshot-expiry`;
// An entry added and deleted at once: the stream lost an entry after every host's position.
const TRIM = "local id = redis.call('XADD', KEYS[1], '*', 'pad', '1') redis.call('XDEL', KEYS[1], id) return id";
const TEN_YEARS = 10 * 365 * 86_400_000;

const flat = (m: Record<string, string>): string[] => Object.entries(m).flat();

void test("copies of lifted bans, forced catch-ups and future-dated messages change nothing", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const a = await fleet.host(t, "a");
  // B may catch up again a second after its last; C only after an hour.
  const b = await fleet.host(t, "b", {}, { catchup_interval: "1s" });
  const c = await fleet.host(t, "c", {}, { catchup_interval: "1h" });
  const da = await a.start();
  let db = await b.start();
  const dc = await c.start();
  for (const d of [da, db, dc]) await d.waitForLine(/caught up from the snapshot/, 10_000);
  const served = async (src: string, h: "b" | "c"): Promise<boolean> => (await fleet.probe(src, h, SERVICE_PORT, 1000)) === "connected";
  const bannedOnBC = async (src: string): Promise<void> => {
    await fleet.probe(src, "a", TRAP_PORT, 2000);
    await fleet.waitDropped(src, "b").catch((e: Error) => assert.fail(`${e.message}\n${db.tail()}`));
    await fleet.waitDropped(src, "c").catch((e: Error) => assert.fail(`${e.message}\n${dc.tail()}`));
  };

  // A bans X; the ban reaches B and C. Its stream entry and snapshot entry, as A wrote them.
  const x = stormSource(0);
  await bannedOnBC(x);
  const entry = (await fleet.stream()).find((e) => e.fields.origin === "a" && e.fields.kind === "ban" && e.fields.prefix === `${x}/32`);
  assert.ok(entry, "A's ban of X is in the stream");
  const detail = (await fleet.redisCli(["HGET", DETAILS, `${x}/32`])).stdout.trim();
  const expiry = (await fleet.redisCli(["ZSCORE", EXPIRY, `${x}/32`])).stdout.trim();
  assert.match(detail, /^[0-9a-f]{64}\[/, "A's snapshot entry of X");

  // A lifts it; so do B and C.
  assert.equal((await a.cli("unban", [x])).code, 0);
  await waitUntil(async () => (await served(x, "b")) && (await served(x, "c")), { timeoutMs: 15_000, what: "B and C to lift X" });

  // 1. The ban copied back into the stream, verbatim: refused by its sequence.
  let fromB = db.lines.length;
  let fromC = dc.lines.length;
  await fleet.redisCli(["XADD", EVENTS, "*", ...flat(entry.fields)]);
  for (const d of [db, dc]) {
    const line = await d.waitForLine(/cluster: refused/, 5_000, d === db ? fromB : fromC).catch(() => assert.fail(`no refusal of the copy\n${d.tail()}`));
    assert.match(line, new RegExp(`ban of ${x.replaceAll(".", "\\.")} from a has sequence \\d+, not after \\d+ of its last message: a replay`));
  }
  assert.ok((await served(x, "b")) && (await served(x, "c")), "the copy in the stream banned nobody");

  // 2. The ban copied back into the snapshot, the stream trimmed past every host, their connections cut.
  fromB = db.lines.length;
  fromC = dc.lines.length;
  await fleet.redisCli(["HSET", DETAILS, `${x}/32`, detail]);
  await fleet.redisCli(["ZADD", EXPIRY, expiry, `${x}/32`]);
  await fleet.redisCli(["EVAL", TRIM, "1", EVENTS]);
  await fleet.redisCli(["CLIENT", "KILL", "TYPE", "normal"]);
  // B catches up (at once, or when its second is over) and refuses the copy: it heard the unban.
  await db.waitForLine(/catching up from the fleet's snapshot \(the stream was trimmed past our position/, 15_000, fromB).catch(() => assert.fail(`B did not catch up\n${db.tail()}`));
  const refusal = await db.waitForLine(/cluster: refused snapshot entry/, 15_000, fromB).catch(() => assert.fail(`B took the copy\n${db.tail()}`));
  assert.match(refusal, new RegExp(`ban of ${x.replaceAll(".", "\\.")} from a was lifted by its unban \\(sequence \\d+\\): a replay`));
  await db.waitForLine(/caught up from the snapshot: \d+ ban\(s\) read, 0 applied, 1 refused/, 15_000, fromB);
  assert.ok(await served(x, "b"), "the copy in the snapshot banned nobody on B");
  // Forced again at once: within B's second (said, and made when it is over) or after it, one more catch-up.
  const again = db.lines.length;
  await fleet.redisCli(["EVAL", TRIM, "1", EVENTS]);
  await fleet.redisCli(["CLIENT", "KILL", "TYPE", "normal"]);
  await db.waitForLine(/caught up from the snapshot: \d+ ban\(s\) read, 0 applied, 1 refused/, 15_000, again).catch(() => assert.fail(`B did not catch up again\n${db.tail()}`));
  // C caught up less than an hour ago: it says so and reads on, no catch-up.
  await dc.waitForLine(/the stream was trimmed past our position \S+ within catchup_interval \(1h\) of the last catch-up: reading on from the oldest entry left/, 15_000, fromC)
    .catch(() => assert.fail(`C did not defer the catch-up\n${dc.tail()}`));
  // Forced again: said once, still no catch-up.
  await fleet.redisCli(["EVAL", TRIM, "1", EVENTS]);
  await fleet.redisCli(["CLIENT", "KILL", "TYPE", "normal"]);
  const y = stormSource(1);
  await bannedOnBC(y);
  assert.equal(dc.lines.slice(fromC).filter((l) => /catching up from the fleet's snapshot/.test(l)).length, 0, `C made no catch-up within the hour\n${dc.tail()}`);
  assert.equal(dc.lines.slice(fromC).filter((l) => /within catchup_interval/.test(l)).length, 1, `C said it once\n${dc.tail()}`);
  assert.ok(await served(x, "c"), "X is still served by C");

  // 3. A holder of the secret signs a message as A dated ten years ahead: refused, and A's next real ban still lands.
  fromB = db.lines.length;
  const future = String(Date.now() + TEN_YEARS);
  const forged: Record<string, string> = { origin: "a", kind: "ban", prefix: `${stormSource(2)}/32`, expires: "", reason: "trap", port: "23", at: future, seq: String(Number(future) * 1000) };
  await fleet.redisCli(["XADD", EVENTS, "*", ...flat({ ...forged, hmac: signFields(forged) })]);
  const ahead = await db.waitForLine(/cluster: refused/, 5_000, fromB).catch(() => assert.fail(`B took the future message\n${db.tail()}`));
  assert.match(ahead, /from a is dated \S+, more than the clock skew \(5m\) ahead of this host's clock/);
  await bannedOnBC(stormSource(3));
  assert.ok(await served(stormSource(2), "b"), "the future-dated ban was not applied");

  // 4. A holder of the secret signs as A with a sequence just inside the skew (B takes it: it could be
  // A's): A reads it under its own name and moves its sequence past it, so its next real ban still lands.
  const fromA = da.lines.length;
  const near: Record<string, string> = { origin: "a", kind: "ban", prefix: `${stormSource(5)}/32`, expires: "", reason: "trap", port: "23", at: String(Date.now()), seq: String((Date.now() + 240_000) * 1000) };
  await fleet.redisCli(["XADD", EVENTS, "*", ...flat({ ...near, hmac: signFields(near) })]);
  await da.waitForLine(/cluster: a message signed with this host's name has sequence \d+, after ours: another holder of the secret signs as this host/, 5_000, fromA)
    .catch(() => assert.fail(`A did not see the forgery under its name\n${da.tail()}`));
  await bannedOnBC(stormSource(6));

  // 5. Write access to Redis only: an entry with an id far ahead moves every host's position there,
  // then the stream is deleted (its new entries all come before that id). The hosts read the new stream.
  await fleet.redisCli(["XADD", EVENTS, "9999999999999-0", "pad", "1"]);
  await db.waitForLine(/cluster: refused entry 9999999999999-0/, 5_000);
  await dc.waitForLine(/cluster: refused entry 9999999999999-0/, 5_000);
  fromB = db.lines.length;
  await fleet.redisCli(["DEL", EVENTS]);
  await bannedOnBC(stormSource(7));
  await db.waitForLine(/the stream ends at \S+, before our position 9999999999999-0: it was deleted or replaced/, 5_000, fromB);

  // 6. Such a mark kept in B's store (a clock since set right): forgotten at the start, A's bans land.
  await db.stop();
  const store = new Database(join(b.stateDir, "iblock.sqlite"));
  store.prepare("UPDATE cluster_state SET value = ? WHERE key = 'peer_marks'").run(JSON.stringify({ a: { at: Number(future), seq: Number(future) * 1000 } }));
  store.close();
  db = await b.start();
  await db.waitForLine(/cluster: forgot the replay mark of "a": dated \S+, more than the clock skew/, 10_000);
  await bannedOnBC(stormSource(4));
});
