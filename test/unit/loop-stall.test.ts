// The event loop is timed only while the daemon works: a stall then is seen;
// a minute after the last sign of work, sampling stops (an idle daemon does
// not wake to time itself).
import assert from "node:assert/strict";
import { test } from "node:test";
import { LoopStall } from "../../src/util/loop-stall.js";

/** Hold the event loop for `ms` (at least: whatever this machine's speed). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
}
const turn = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("a stall while working is seen; none is sampled after the quiet minute", async () => {
  const s = new LoopStall();
  assert.equal(s.takeMax(), 0, "nothing sampled before any work");
  s.working();
  await turn();
  stall(150);
  await turn();
  const seen = s.takeMax();
  assert.ok(seen >= 150 - 20, `a 150 ms stall reads at least 130 ms: ${seen}`);
  assert.ok(s.takeMax() < 150 - 20, "taken: the next read starts again");
  s.stop();
});

test("sampling stops QUIET_MS after the last working(), and starts again with the next", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let now = 0;
  const s = new LoopStall(() => now);
  s.working();
  now = 30_000;
  s.working(); // work goes on: the quiet minute starts again here
  now = 60_000;
  t.mock.timers.tick(60_000);
  now = 90_000;
  t.mock.timers.tick(30_000);
  // Quiet for a minute: off. A stall now is not sampled.
  t.mock.timers.reset();
  stall(100);
  await turn();
  assert.equal(s.takeMax(), 0, "no sample while idle");
  // On again: the quiet spell is not taken for a stall.
  await turn(200);
  s.working();
  await turn();
  assert.ok(s.takeMax() < 100, "the first samples after the quiet spell are small");
  await turn(); // a tick after the reset: the histogram's next sample counts from it
  stall(100);
  await turn();
  assert.ok(s.takeMax() >= 80, "on again with the next work");
  s.stop();
});
