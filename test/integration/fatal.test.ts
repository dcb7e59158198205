// A bug that escapes every handler (an uncaught exception, an unhandled
// rejection) in the real daemon: it says so and exits 70 (EX_SOFTWARE) for the
// supervisor to start a clean process, which finds every ban in the store.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CLI_JS, createInstance, Daemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { spawnIn, uniqueName } from "../support/netns.js";
import { run } from "../support/proc.js";

const EX_SOFTWARE = 70;

// Loaded before the daemon: the bug, 1.5 s after start, from outside every handler of ours.
const BUGS = {
  "uncaught exception": `setTimeout(() => { throw new Error("boom"); }, 1500);`,
  "unhandled rejection": `setTimeout(() => { void Promise.reject(new Error("boom")); }, 1500);`,
};

for (const [what, bug] of Object.entries(BUGS)) {
  test(`an ${what} in the daemon is logged and it exits 70; the restarted daemon has every ban`, async (t) => {
    if (!requireRoot(t, ["ip"])) return;
    const ns = uniqueName("fatal");
    await run(["ip", "netns", "add", ns]);
    t.after(() => run(["ip", "netns", "del", ns]));
    const inst = await createInstance(t, ns, { firewall: "none" });
    const preload = `data:text/javascript,${encodeURIComponent(bug)}`;
    const proc = spawnIn(ns, [process.execPath, "--import", preload, CLI_JS, "run", "-c", inst.configPath], { env: inst.env() });
    const d = new Daemon(inst, proc);
    t.after(() => d.kill9());
    await d.waitForLine(/\bready\b/, 20_000);
    const banned = await inst.cli("ban", ["203.0.113.7"]);
    assert.equal(banned.code, 0, banned.stderr);
    const exit = await Promise.race([proc.exited, new Promise<undefined>((r) => setTimeout(r, 10_000))]);
    assert.equal(exit?.code, EX_SOFTWARE, `the daemon should have exited 70 after the ${what}\n${d.tail()}`);
    assert.match(d.proc.tail(), new RegExp(`${what}: Error: boom`));

    const again = await inst.start();
    assert.ok(again.running);
    assert.deepEqual((await inst.list()).map((b) => b.prefix), ["203.0.113.7/32"]);
  });
}
