import assert from "node:assert/strict";
import { test } from "node:test";
import { Jobs } from "../../src/util/jobs.js";

// The jobs' timers are the test's own clock: each tick is one period, whatever this machine's speed.
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test("a periodic job runs again whatever it did: threw at once, rejected or resolved", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const warnings: string[] = [];
  const jobs = new Jobs((m) => warnings.push(m));
  const runs = { throws: 0, rejects: 0, works: 0 };
  jobs.every(10, () => {
    runs.throws++;
    throw new Error("store is read-only");
  }, "pruning");
  jobs.every(10, () => {
    runs.rejects++;
    return Promise.reject(new Error("nft failed"));
  }, "checking");
  jobs.every(10, () => void runs.works++, "expiring");
  for (let i = 0; i < 5; i++) {
    t.mock.timers.tick(10);
    await settle();
  }
  assert.deepEqual(runs, { throws: 5, rejects: 5, works: 5 }, "each ran once a period");
  await jobs.stop();
  // One warning per job per 30 s, not one per run.
  assert.deepEqual(warnings.sort(), ["checking: nft failed", "pruning: store is read-only"]);
  const after = { ...runs };
  t.mock.timers.tick(1_000);
  await settle();
  assert.deepEqual(runs, after, "nothing runs after stop()");
});

test("a job's wait may be asked for after each run (the kernel drain's busy and quiet pace)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const jobs = new Jobs(() => undefined);
  let wait = 100;
  let runs = 0;
  jobs.every(() => wait, () => void runs++, "draining");
  t.mock.timers.tick(100);
  await settle();
  assert.equal(runs, 1);
  wait = 1000; // read after this run: the next comes 1000 later
  t.mock.timers.tick(100);
  await settle();
  assert.equal(runs, 2, "the wait asked for after run 1 was still 100");
  t.mock.timers.tick(999);
  await settle();
  assert.equal(runs, 2);
  t.mock.timers.tick(1);
  await settle();
  assert.equal(runs, 3);
  await jobs.stop();
});
