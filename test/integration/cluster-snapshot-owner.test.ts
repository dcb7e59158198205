// Two hosts ban the same scanner. The snapshot a new host catches up on must
// keep the ban that lasts longest, whoever let go first: a host's shorter ban
// does not replace another's, and its unban removes only its own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_NAME } from "../support/fleet.js";
import { waitUntil } from "../support/proc.js";
import { stormSource } from "../support/storm.js";

void test("a host's shorter ban and its unban leave another host's longer ban in the snapshot", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const [a, b, c] = [await fleet.host(t, "a"), await fleet.host(t, "b"), await fleet.host(t, "c")];
  const da = await a.start();
  const db = await b.start();
  await da.waitForLine(/caught up from the snapshot/, 10_000);
  await db.waitForLine(/caught up from the snapshot/, 10_000);
  const details = `iblock:{${FLEET_NAME}}:snapshot`;
  const holder = async (prefix: string): Promise<string | undefined> => {
    const r = await fleet.redisCli(["HGET", details, prefix]);
    const text = r.stdout.trim();
    // The HMAC's 64 hex digits, then [fleet, origin, ...].
    return text ? (JSON.parse(text.slice(64)) as string[])[1] : undefined;
  };

  const x = stormSource(3);
  assert.equal((await a.cli("ban", [x, "--time", "1h"])).code, 0);
  await fleet.waitDropped(x, "b");
  await waitUntil(async () => (await holder(`${x}/32`)) === "a", { timeoutMs: 15_000, what: "A's ban in the snapshot" });

  // B bans it for itself, shorter, then lifts its own ban: both are published.
  assert.equal((await b.cli("ban", [x, "--time", "10m"])).code, 0);
  assert.equal((await b.cli("unban", [x])).code, 0);
  await waitUntil(async () => (await fleet.stream()).filter((e) => e.fields.origin === "b" && e.fields.prefix === `${x}/32`).length === 2, {
    timeoutMs: 15_000,
    what: "B's ban and unban in the stream",
  });
  assert.equal(await holder(`${x}/32`), "a", "the snapshot still holds A's ban");

  // A host joining now learns of A's ban from the snapshot alone.
  await fleet.redisCli(["XTRIM", `iblock:{${FLEET_NAME}}:events`, "MAXLEN", "0"]);
  const dc = await c.start();
  await dc.waitForLine(/caught up from the snapshot: 1 ban\(s\) read, 1 applied/, 10_000);
  await fleet.waitDropped(x, "c");

  // A's own unban does take it out.
  assert.equal((await a.cli("unban", [x])).code, 0);
  await waitUntil(async () => (await holder(`${x}/32`)) === undefined, { timeoutMs: 15_000, what: "A's unban to empty the snapshot" });
});
