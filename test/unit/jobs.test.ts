import assert from "node:assert/strict";
import { test } from "node:test";
import { Jobs } from "../../src/jobs.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("a periodic job runs again whatever it did: threw at once, rejected or resolved", async () => {
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
  await sleep(300);
  await jobs.stop();
  for (const [job, n] of Object.entries(runs)) assert.ok(n >= 5, `${job} ran ${n} times`);
  // One warning per job per 30 s, not one per run.
  assert.deepEqual(warnings.sort(), ["checking: nft failed", "pruning: store is read-only"]);
  const after = { ...runs };
  await sleep(50);
  assert.deepEqual(runs, after, "nothing runs after stop()");
});
