// A service on a trap port takes it out of the traps; it is a trap again only
// once the service has been gone trap_again_after (a restart is not a
// departure). A fake clock and a fake listing of listening sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ServedPortWatch } from "../../src/trap/served-watch.js";

function watch(servedAtStart = new Map<number, string>()) {
  const lines: string[] = [];
  let now = 0;
  let served = new Map<number, string>();
  const w = new ServedPortWatch([21, 23, 3306], servedAtStart, 3_600_000, () => Promise.resolve(served), () => now);
  return {
    w,
    lines,
    /** One look: whether the trap ports changed; what it said goes to `lines`. */
    check: async () => {
      const r = await w.check();
      lines.push(...r.lines);
      return r.changed;
    },
    at: (ms: number) => (now = ms),
    serve: (m: Map<number, string>) => (served = m),
  };
}

test("a service takes a trap port at once; a restart keeps it out; an hour gone gives it back", async () => {
  const x = watch();
  assert.equal(await x.check(), false);
  x.serve(new Map([[3306, "mariadbd (pid 7)"]]));
  assert.equal(await x.check(), true);
  assert.deepEqual(x.w.trapPorts, [21, 23]);
  assert.match(x.lines.at(-1) ?? "", /port 3306 is now served by mariadbd \(pid 7\): no longer a trap/);

  // Restarted: gone for a minute, back.
  x.serve(new Map());
  x.at(1000);
  assert.equal(await x.check(), false);
  assert.match(x.lines.at(-1) ?? "", /port 3306 is no longer served by mariadbd \(pid 7\): a trap again in 1h unless it comes back/);
  x.at(61_000);
  assert.equal(await x.check(), false);
  x.serve(new Map([[3306, "mariadbd (pid 9)"]]));
  assert.equal(await x.check(), false, "back within the hour: still out of the traps, nothing said");
  assert.deepEqual(x.w.trapPorts, [21, 23]);

  // Gone for good.
  x.serve(new Map());
  x.at(100_000);
  await x.check();
  x.at(100_000 + 3_599_999);
  assert.equal(await x.check(), false);
  x.at(100_000 + 3_600_000);
  assert.equal(await x.check(), true);
  assert.deepEqual(x.w.trapPorts, [21, 23, 3306]);
  assert.match(x.lines.at(-1) ?? "", /port 3306 is a trap again/);
});

test("a port served at the start is out already, and not announced again", async () => {
  const x = watch(new Map([[23, "telnetd (pid 3)"]]));
  assert.deepEqual(x.w.trapPorts, [21, 3306]);
  x.serve(new Map([[23, "telnetd (pid 3)"], [8080, "nginx (pid 4)"]]));
  assert.equal(await x.check(), false);
  assert.deepEqual(x.lines, []);
});
