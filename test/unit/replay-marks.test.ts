// What a host keeps to refuse a copy of a fleet message: the sequence each
// origin signs (it only grows and stays near the clock), the bound on how far
// ahead a message may be dated, and the unbans heard, kept with the stream
// position in the store across a restart.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { LiftedBans } from "../../src/cluster/lifted.js";
import { ClusterStore } from "../../src/cluster/outbox.js";
import { aheadOfClock, nextSeq, SEQ_PER_MS } from "../../src/cluster/seq.js";
import { parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

const T = 1_800_000_000_000;
const SKEW = 300_000;

test("a sequence grows with every message, also when the clock steps back", () => {
  let seq = 0;
  const seen: number[] = [];
  for (const now of [T, T, T + 1, T - 60_000, T - 60_000, T + 5]) seen.push((seq = nextSeq(seq, now)));
  for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as number) > (seen[i - 1] as number), `grows: ${seen.join(", ")}`);
  assert.equal(seen[0], T * SEQ_PER_MS);
  // A new store starts from 0: the clock alone is still past the last one of the old store.
  assert.ok(nextSeq(0, T + 6) > (seen[5] as number));
});

test("a message dated, or sequenced, further ahead than the skew is too far ahead", () => {
  assert.equal(aheadOfClock(T + SKEW, (T + SKEW) * SEQ_PER_MS, T, SKEW), undefined);
  assert.match(aheadOfClock(T + SKEW + 1, T * SEQ_PER_MS, T, SKEW) ?? "", /dated .* more than the clock skew \(5m\) ahead/);
  assert.match(aheadOfClock(T, (T + 10 * 365 * 86_400_000) * SEQ_PER_MS, T, SKEW) ?? "", /sequence \d+ runs more than the clock skew/);
});

test("an unban heard refuses the older bans of its origin and prefix, no other", () => {
  const lifted = new LiftedBans([{ prefix: "192.0.2.7/32", origin: "a", seq: 500, heardAt: T }]);
  const p = parsePrefix("192.0.2.7");
  assert.equal(lifted.liftedAfter(p, "a", 499), 500);
  assert.equal(lifted.liftedAfter(p, "a", 501), undefined, "a ban after the unban stands");
  assert.equal(lifted.liftedAfter(p, "b", 1), undefined, "another origin's ban stands");
  assert.equal(lifted.liftedAfter(parsePrefix("192.0.2.0/24"), "a", 1), undefined, "another prefix stands");
  lifted.heard({ prefix: "192.0.2.7/32", origin: "a", seq: 400, heardAt: T });
  assert.deepEqual(lifted.fresh(), [], "an older unban changes nothing");
  lifted.heard({ prefix: "192.0.2.7/32", origin: "a", seq: 600, heardAt: T });
  assert.equal(lifted.liftedAfter(p, "a", 550), 600);
  assert.equal(lifted.fresh().length, 1);
  lifted.written(1);
  assert.deepEqual(lifted.fresh(), [], "written: not given again");
});

test("the position, the marks and the unbans heard are kept together and read back after a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-marks-"));
  try {
    const file = join(dir, "iblock.db");
    let store = new Store(file);
    let kept = new ClusterStore(store.database);
    assert.equal(kept.lastSeq, 0);
    kept.keep("5-0", new Map([["a", { at: T, seq: T * SEQ_PER_MS }]]), [{ prefix: "192.0.2.7/32", origin: "a", seq: 7, heardAt: T }]);
    kept.keep("6-0", undefined, [{ prefix: "192.0.2.7/32", origin: "a", seq: 3, heardAt: T + 1 }]);
    kept.owedCatchUp = "the stream was trimmed";
    store.close();
    store = new Store(file);
    kept = new ClusterStore(store.database);
    assert.equal(kept.lastId, "6-0");
    assert.deepEqual([...kept.peerMarks], [["a", { at: T, seq: T * SEQ_PER_MS }]]);
    assert.deepEqual(kept.liftedBans(), [{ prefix: "192.0.2.7/32", origin: "a", seq: 7, heardAt: T }], "an older unban does not replace a newer");
    assert.equal(kept.owedCatchUp, "the stream was trimmed");
    kept.owedCatchUp = undefined;
    assert.equal(kept.owedCatchUp, undefined);
    // Marks kept before sequences were signed (a bare time) are none.
    store.database.prepare("UPDATE cluster_state SET value = ? WHERE key = 'peer_marks'").run(JSON.stringify({ a: T, b: { at: T } }));
    assert.deepEqual([...kept.peerMarks], []);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
