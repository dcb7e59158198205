// The kernel route reports a trap connection a moment after the listener
// counted it. An `iblock unban` in between must stay: the report (no hit of
// its own, dated by the listener's hit) must not open the ban again. Found as
// a flaky `top` test: ban, unban, and the ban back as "kernel".
import { hitPolicy, DEFAULT_RULES } from "../../src/bans/rules.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

test("a late report of a counted connection does not undo an unban made after it; a new connection still bans", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-late-report-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(join(dir, "iblock.sqlite"));
  t.after(() => store.close());
  const prefix = parsePrefix("192.0.2.2");
  const t0 = Date.now();
  store.recordHits([{ prefix, ports: new Map([[23, 1]]), source: "trap", at: t0 }], hitPolicy(DEFAULT_RULES));
  assert.ok(store.endBan(prefix, { kind: "unban", reason: "cli" }, t0 + 300));
  // The kernel's report of that connection, drained after the unban.
  assert.deepEqual(store.recordHits([{ prefix, ports: new Map([[23, 0]]), source: "kernel", at: t0 }], hitPolicy(DEFAULT_RULES)), []);
  assert.equal(store.isBanned(prefix, t0 + 400), false);
  // A scan adopting a kernel ban the store does not hold (no hit of its own, dated now) still bans,
  assert.equal(store.recordHits([{ prefix, ports: new Map([[0, 0]]), source: "kernel", at: t0 + 500 }], hitPolicy(DEFAULT_RULES)).length, 1);
  assert.ok(store.endBan(prefix, { kind: "unban", reason: "cli" }, t0 + 600));
  // and so does a new connection after the unban.
  assert.equal(store.recordHits([{ prefix, ports: new Map([[23, 1]]), source: "trap", at: t0 + 700 }], hitPolicy(DEFAULT_RULES)).length, 1);
});
