// The per-minute history is written on the way of hits and bans: a write that
// fails (a full disk) must never throw there, only be counted and said.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rollup } from "../../src/metrics/rollup.js";
import { Store } from "../../src/store/store.js";

void test("a minute that cannot be written is dropped and reported, and counting goes on", () => {
  const store = new Store(":memory:");
  const errors: string[] = [];
  let written = 0;
  const rollup = new Rollup(store.database, () => 7, (e) => errors.push(e.message), () => written++);
  const t0 = Math.floor(Date.now() / 60_000) * 60_000;
  rollup.hit(23, 1);
  rollup.roll(t0 + 60_000);
  assert.equal(written, 1);
  assert.equal(rollup.minutes(t0).find((m) => m.minute === t0)?.hits, 1);

  store.database.exec("DROP TABLE rollup_minute"); // every later write fails, as on a full disk
  // Each call below crosses into another minute (the clock of the test against the real one): each write fails.
  assert.doesNotThrow(() => rollup.hit(445, 2));
  assert.doesNotThrow(() => rollup.roll(t0 + 120_000));
  assert.doesNotThrow(() => rollup.ban());
  assert.ok(errors.length >= 2, JSON.stringify(errors));
  for (const e of errors) assert.match(e, /rollup_minute/);
  assert.equal(written, 1);
  store.close();
});
