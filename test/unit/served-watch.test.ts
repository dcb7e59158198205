// A service on a trap port takes it out of the traps; it is a trap again only
// once the service has been gone trap_again_after (a restart is not a
// departure), also across a reload. A fake clock and a fake listing of
// listening sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { PortOwner } from "../../src/trap/served-ports.js";
import { ServedPortWatch } from "../../src/trap/served-watch.js";

const HOUR = 3_600_000;

function harness(servedAtStart = new Map<number, PortOwner[]>()) {
  const lines: string[] = [];
  let now = 0;
  let served: Map<number, PortOwner[]> | undefined = new Map<number, PortOwner[]>();
  let ssRuns = 0;
  const list = () => {
    ssRuns++;
    return Promise.resolve(served);
  };
  const clock = () => now;
  const listening = () => Promise.resolve(served && new Set(served.keys()));
  const x = {
    w: new ServedPortWatch([21, 23, 3306], servedAtStart, HOUR, undefined, list, clock, listening),
    ssRuns: () => ssRuns,
    lines,
    at: (ms: number) => (now = ms),
    serve: (m: Map<number, PortOwner[]> | undefined) => (served = m),
    /** One look: whether the trap ports changed; what it said goes to `lines`. */
    check: async () => {
      const before = String(x.w.trapPorts);
      lines.push(...(await x.w.check()));
      return String(x.w.trapPorts) !== before;
    },
    /** A reload: a new watch of the same ports, carrying this one over. */
    reload: (againAfterMs = HOUR) => (x.w = new ServedPortWatch([21, 23, 3306], new Map(), againAfterMs, x.w, list, clock, listening)),
  };
  return x;
}

test("a service takes a trap port at once; a restart keeps it out; an hour gone gives it back", async () => {
  const x = harness();
  assert.equal(await x.check(), false);
  x.serve(new Map([[3306, [{ name: "mariadbd", pid: 7 }]]]));
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
  x.serve(new Map([[3306, [{ name: "mariadbd", pid: 9 }]]]));
  const said = x.lines.length;
  assert.equal(await x.check(), false, "back within the hour: still out of the traps");
  assert.equal(x.lines.length, said, "nothing said");

  // Gone for good.
  x.serve(new Map());
  x.at(100_000);
  await x.check();
  x.at(100_000 + HOUR - 1);
  assert.equal(await x.check(), false);
  x.at(100_000 + HOUR);
  assert.equal(await x.check(), true);
  assert.deepEqual(x.w.trapPorts, [21, 23, 3306]);
  assert.match(x.lines.at(-1) ?? "", /port 3306 is a trap again/);
});

test("sockets that cannot be read are no news: nothing taken back, nothing said", async () => {
  const x = harness();
  x.serve(new Map([[3306, [{ name: "mariadbd", pid: 7 }]]]));
  await x.check();
  x.serve(undefined);
  const said = x.lines.length;
  for (const at of [HOUR, 3 * HOUR]) {
    x.at(at);
    assert.equal(await x.check(), false);
  }
  assert.equal(x.lines.length, said);
  assert.deepEqual(x.w.trapPorts, [21, 23]);
});

test("a reload keeps what was taken and how long it has been gone", async () => {
  const x = harness();
  x.serve(new Map([[3306, [{ name: "mariadbd", pid: 7 }]]]));
  await x.check();
  x.serve(new Map());
  x.at(1000);
  await x.check(); // gone since 1 s
  x.reload(10_000);
  assert.deepEqual(x.w.trapPorts, [21, 23], "still out after the reload");
  x.at(10_999);
  assert.equal(await x.check(), false, "the wait goes on from when it left, not from the reload");
  x.at(11_000);
  assert.equal(await x.check(), true);
  assert.deepEqual(x.w.trapPorts, [21, 23, 3306]);
});

test("a port served at the start is out already, and not announced again", async () => {
  const x = harness(new Map([[23, [{ name: "telnetd", pid: 3 }]]]));
  assert.deepEqual(x.w.trapPorts, [21, 3306]);
  x.serve(new Map([[23, [{ name: "telnetd", pid: 3 }]], [8080, [{ name: "nginx", pid: 4 }]]]));
  assert.equal(await x.check(), false);
  assert.deepEqual(x.lines, []);
});

test("ss is run only when a trap port is newly listened on; the kernel's list of listening ports does the rest", async () => {
  const x = harness();
  for (let i = 0; i < 5; i++) await x.check();
  assert.equal(x.ssRuns(), 0, "nothing listens on a trap port: no ss");
  x.serve(new Map([[8080, [{ name: "nginx", pid: 3 }]]]));
  await x.check();
  assert.equal(x.ssRuns(), 0, "a port that is no trap: no ss");
  x.serve(new Map([[3306, [{ name: "mariadbd", pid: 7 }]]]));
  await x.check();
  assert.equal(x.ssRuns(), 1, "a trap port newly served: ss names its owner");
  assert.match(x.lines.at(-1) ?? "", /port 3306 is now served by mariadbd \(pid 7\)/);
  await x.check();
  x.serve(new Map());
  x.at(1000);
  await x.check();
  assert.match(x.lines.at(-1) ?? "", /port 3306 is no longer served by mariadbd \(pid 7\)/);
  x.at(1000 + HOUR);
  await x.check();
  assert.match(x.lines.at(-1) ?? "", /port 3306 is a trap again/);
  assert.equal(x.ssRuns(), 1, "taken, gone and given back: the owner was named once");
});
