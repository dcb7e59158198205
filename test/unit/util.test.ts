import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../../src/util/backoff.js";
import { Serial } from "../../src/util/serial.js";

test("Backoff doubles up to its ceiling, starts over after reset, and obeys a lowered ceiling", () => {
  const b = new Backoff(200, 1_000);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [200, 400, 800, 1_000, 1_000]);
  b.reset();
  assert.equal(b.next(), 200);
  b.next();
  b.limit(300);
  assert.deepEqual([b.next(), b.next()], [300, 300]);
});

test("Serial runs one operation at a time, in order, past a rejection", async () => {
  const s = new Serial();
  const seen: string[] = [];
  let running = 0;
  const op = (name: string, fail = false) => async (): Promise<string> => {
    running++;
    assert.equal(running, 1, "two operations at once");
    await new Promise((r) => setImmediate(r));
    seen.push(name);
    running--;
    if (fail) throw new Error(name);
    return name;
  };
  const a = s.run(op("a"));
  const b = s.run(op("b", true));
  const c = s.run(op("c"));
  assert.equal(await a, "a");
  await assert.rejects(b, /b/);
  assert.equal(await c, "c");
  await s.idle();
  assert.deepEqual(seen, ["a", "b", "c"]);
});
