import assert from "node:assert/strict";
import { test } from "node:test";
import { HitJoiner } from "../../src/bans/hit-join.js";
import type { BanRequest } from "../../src/bans/ban-request.js";
import { formatPrefix, parsePrefix } from "../../src/net/address.js";

function joiner(maxEntries = 100): { j: HitJoiner; out: string[] } {
  const out: string[] = [];
  const j = new HitJoiner((r: BanRequest, n: number) => out.push(`${formatPrefix(r.prefix)} ${r.port ?? "?"} ${r.source} x${n}`), {
    holdMs: 1000,
    sameHitMs: 30_000,
    maxEntries,
  });
  return { j, out };
}

const P = parsePrefix("192.0.2.2");

test("a redirected listener hit takes its port from the kernel's report, and counts once", () => {
  const { j, out } = joiner();
  j.listenerHit(P, undefined, true, 0);
  assert.deepEqual(out, [], "held for the report");
  j.kernelHit(P, 23, false, 250);
  assert.deepEqual(out, ["192.0.2.2 23 trap x1"]);
  j.tick(5000);
  assert.deepEqual(out, ["192.0.2.2 23 trap x1"], "nothing left to release");
});

test("the kernel's report first, then the listener: still one hit with the port", () => {
  const { j, out } = joiner();
  j.kernelHit(P, 445, false, 0);
  j.listenerHit(P, undefined, true, 10);
  assert.deepEqual(out, ["192.0.2.2 445 kernel x1", "192.0.2.2 445 trap x0"]);
});

test("no report within holdMs: the hit goes on with its port unknown, and a late report does not count again", () => {
  const { j, out } = joiner();
  j.listenerHit(P, undefined, true, 0);
  j.listenerHit(P, undefined, true, 100);
  j.tick(999);
  assert.deepEqual(out, []);
  j.tick(1000);
  assert.deepEqual(out, ["192.0.2.2 ? trap x2"]);
  j.kernelHit(P, 23, false, 1500);
  assert.deepEqual(out, ["192.0.2.2 ? trap x2", "192.0.2.2 23 kernel x0"]);
});

test("direct listeners and no kernel route: submitted at once", () => {
  const { j, out } = joiner();
  j.listenerHit(P, 23, true, 0);
  j.listenerHit(parsePrefix("192.0.2.3"), undefined, false, 0);
  assert.deepEqual(out, ["192.0.2.2 23 trap x1", "192.0.2.3 ? trap x1"]);
  j.kernelHit(P, 23, false, 100);
  assert.equal(out[2], "192.0.2.2 23 kernel x0");
});

test("a flood of sources cannot grow the joiner past its bound; nothing is lost", () => {
  const { j, out } = joiner(100);
  for (let i = 0; i < 1000; i++) j.listenerHit(parsePrefix(`198.18.${i >> 8}.${i & 255}`), undefined, true, 0);
  for (let i = 0; i < 1000; i++) j.kernelHit(parsePrefix(`198.19.${i >> 8}.${i & 255}`), 23, false, 1);
  for (let i = 0; i < 1000; i++) j.listenerHit(parsePrefix(`198.19.1.${i & 255}`), 23, false, 2);
  const size = j.size;
  assert.ok(size.held <= 100 && size.listened <= 100 && size.reported <= 100, JSON.stringify(size));
  j.tick(10_000);
  const submitted = out.filter((l) => l.startsWith("198.18.")).reduce((n, l) => n + Number(l.split(" x")[1]), 0);
  assert.equal(submitted, 1000, "every held hit is submitted once");
});

test("a report of a connection the listener counted is dated by the listener's hit", () => {
  const at: (number | undefined)[] = [];
  const j = new HitJoiner((r: BanRequest) => at.push(r.at), { holdMs: 1000, sameHitMs: 30_000, maxEntries: 100 });
  j.listenerHit(P, 23, true, 5_000);
  j.kernelHit(P, 23, false, 5_800);
  // Not counted before: a connection of its own, dated when it is handled.
  j.kernelHit(parsePrefix("192.0.2.9"), 23, false, 5_900);
  assert.deepEqual(at, [undefined, 5_000, undefined]);
});
