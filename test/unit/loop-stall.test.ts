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
  // Let the sampling tick (setImmediate is not mocked), so it has a last tick to carry over.
  const ticking = performance.now() + 60;
  while (performance.now() < ticking) await new Promise((r) => setImmediate(r));
  now = 30_000;
  s.working(); // work goes on: the quiet minute starts again here
  now = 60_000;
  t.mock.timers.tick(60_000);
  now = 90_000;
  t.mock.timers.tick(30_000);
  // Quiet for a minute: off. A stall now is not sampled, and when work comes
  // again, the quiet spell (over 300 ms here) is not taken for a stall either.
  t.mock.timers.reset();
  stall(100);
  await turn(200);
  s.working();
  await turn();
  assert.ok(s.takeMax() < 100, "neither the idle stall nor the quiet spell is read as a stall");
  await turn(); // a tick after the reset: the histogram's next sample counts from it
  stall(100);
  await turn();
  assert.ok(s.takeMax() >= 80, "on again with the next work");
  s.stop();
});
