import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher } from "../../src/bans/batcher.js";

test("batcher: one run at a time; what comes meanwhile goes together in the next", async () => {
  const runs: number[][] = [];
  // The first run holds until released: what is submitted meanwhile must wait for it.
  let firstStarted!: () => void;
  const started = new Promise<void>((r) => (firstStarted = r));
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const b = new Batcher<number>(async (items) => {
    runs.push(items);
    if (runs.length === 1) {
      firstStarted();
      await held;
    }
  }, (e) => assert.fail(String(e)));
  b.submit(1);
  b.submit(2); // same tick: same batch
  await started;
  for (let i = 3; i <= 10; i++) b.submit(i);
  assert.deepEqual(runs, [[1, 2]], "no second run while the first is in flight");
  release();
  await b.idle();
  assert.deepEqual(runs, [[1, 2], [3, 4, 5, 6, 7, 8, 9, 10]]);
});

test("batcher: pauseMs spaces the runs, and idle() does not wait for a pause nobody needs", async (t) => {
  // The batcher's clock and timers are the test's: the pause is measured, not raced.
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  // Real immediates: what is done without a timer is done after a few of them.
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const starts: number[] = [];
  const b = new Batcher<number>(() => {
    starts.push(Date.now());
    return Promise.resolve();
  }, (e) => assert.fail(String(e)), 600);
  b.submit(1);
  let idle = false;
  void b.idle().then(() => (idle = true));
  await settle();
  assert.ok(idle, "idle right after the only run, not after the pause");
  b.submit(2);
  await settle();
  t.mock.timers.tick(599);
  await settle();
  assert.equal(starts.length, 1, "no second run within the pause");
  t.mock.timers.tick(1);
  await settle();
  await b.idle();
  assert.deepEqual(starts, [1_000_000, 1_000_600], "the second run as the pause ends");
});
