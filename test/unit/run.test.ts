// The process runner (util/run.ts) against programs that are not ours (a hook):
// one that ignores SIGTERM, one that leaves a child holding its output, one
// that writes without end. The timeout bounds each; no test waits on speed:
// the programs would run for a minute, the timeouts are a fraction of a second.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CommandError, run } from "../../src/util/run.js";

const settlesWithin = async (p: Promise<unknown>, ms: number): Promise<unknown> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p.then((v) => v, (e: unknown) => e), late]);
  } finally {
    clearTimeout(timer);
  }
};

test("a program that ignores SIGTERM is killed at the timeout", async () => {
  const r = await settlesWithin(run(["sh", "-c", "trap '' TERM; sleep 30"], { timeoutMs: 300 }), 20_000);
  assert.ok(r instanceof CommandError && /SIGKILL/.test(r.message), String(r));
});

test("a program whose child holds its output open settles at the timeout, with its own exit code", async () => {
  const r = await settlesWithin(run(["sh", "-c", "sleep 30 & exit 0"], { timeoutMs: 300 }), 20_000);
  assert.deepEqual(r, { stdout: "", stderr: "" });
});

test("maxOutput keeps that much of a program's output", async () => {
  const r = await run(["sh", "-c", "yes x | head -c 100000; echo oops >&2"], { maxOutput: 10 });
  assert.equal(r.stdout, "x\nx\nx\nx\nx\n");
  assert.equal(r.stderr, "oops\n");
});
