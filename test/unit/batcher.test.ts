import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher } from "../../src/bans/batcher.js";

test("batcher: one run at a time; what comes meanwhile goes together in the next", async () => {
  const runs: number[][] = [];
  const b = new Batcher<number>(async (items) => {
    runs.push(items);
    await new Promise((r) => setTimeout(r, 30));
  }, (e) => assert.fail(String(e)));
  b.submit(1);
  b.submit(2); // same tick: same batch
  await new Promise((r) => setTimeout(r, 10));
  for (let i = 3; i <= 10; i++) b.submit(i);
  await b.idle();
  assert.deepEqual(runs, [[1, 2], [3, 4, 5, 6, 7, 8, 9, 10]]);
});

test("batcher: pauseMs spaces the runs, and idle() does not wait for a pause nobody needs", async () => {
  const starts: number[] = [];
  const b = new Batcher<number>(() => {
    starts.push(Date.now());
    return Promise.resolve();
  }, (e) => assert.fail(String(e)), 200);
  b.submit(1);
  const t0 = Date.now();
  await b.idle();
  assert.ok(Date.now() - t0 < 100, "idle right after the only run");
  b.submit(2);
  await b.idle();
  assert.equal(starts.length, 2);
  assert.ok((starts[1] ?? 0) - (starts[0] ?? 0) >= 195, `runs ${(starts[1] ?? 0) - (starts[0] ?? 0)} ms apart`);
});
