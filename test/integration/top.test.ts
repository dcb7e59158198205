// `iblock top` (issue 11, point 6): the last minutes at a glance, read from the
// store with or without a daemon. Checked against scanners banned in the test.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertTrapHit, waitListed } from "../support/checks.js";
import { createInstance, EX } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";

test("iblock top --once shows the bans in force, this minute's counts, the trap ports and the latest bans", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, {});

  // No daemon has run yet: no store, which is not "0 bans".
  const none = await inst.cli("top", ["--once"]);
  assert.equal(none.code, EX.NOINPUT, none.stderr);
  assert.match(none.stderr, /no store in state_dir .*iblock\.sqlite does not exist/);

  const d = await inst.start();
  const empty = await inst.cli("top", ["--once"]);
  assert.equal(empty.code, EX.OK, empty.stderr);
  assert.match(empty.stdout, /^bans in force +0$/m);
  assert.match(empty.stdout, /latest bans and unbans\n {2}none yet/);

  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await assertTrapHit(topo, ADDR.scannerV6, 445, d);
  await waitListed(inst, "192.0.2.2/32");
  await waitListed(inst, "2001:db8:0:1::/64");
  assert.equal((await inst.cli("unban", [ADDR.scannerV4])).code, EX.OK);

  // Read until the unban shows (at once, the CLI returns once it is stored): not given a moment.
  const top = (): ReturnType<typeof inst.cli> => inst.cli("top", ["--once", "--minutes", "5"]);
  const r = await waitUntil(async () => {
    const shown = await top();
    return /^bans in force +1$/m.test(shown.stdout) ? shown : undefined;
  }, { timeoutMs: 10_000, what: "top to show the unban" }).catch(top);
  assert.equal(r.code, EX.OK, r.stderr);
  const out = r.stdout;
  assert.match(out, /^bans in force +1$/m, out);
  assert.match(out, /^last 5 min +2 bans \(0\.01\/s\), 2 hits$/m, out);
  // Five minutes, bars only in the last two (the bans and the screen may fall either side of a minute's turn).
  assert.match(out, /^bans\/min +\[ {3}(?=.*[▁-█])[ ▁-█]{2}\]$/m, out);
  assert.match(out, /^top trap ports +(23 \(1\) {2}445 \(1\)|445 \(1\) {2}23 \(1\))$/m, out);
  const latest = out.slice(out.indexOf("latest bans and unbans")).split("\n").slice(1).filter(Boolean);
  assert.equal(latest.length, 3, out);
  assert.match(latest[0] ?? "", /unban +192\.0\.2\.2 +cli$/, out);
  assert.ok(latest.some((l) => /ban +2001:db8:0:1::\/64 +port 445/.test(l)), out);
  assert.ok(latest.some((l) => /ban +192\.0\.2\.2 +port 23/.test(l)), out);

  const bad = await inst.cli("top", ["--interval", "soon"]);
  assert.equal(bad.code, EX.USAGE, bad.stderr);
  assert.match(bad.stderr, /--interval "soon": expected a duration/);
});
