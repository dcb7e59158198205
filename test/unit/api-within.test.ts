// GET /api/bans?prefix=NET pages through the bans inside a network along the
// open bans' prefix index. By id, a network holding no ban read every ban in
// force (80 ms at a million, in the daemon); a cursor deep inside a large
// network must start the read there, not at the network's first key.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { ApiQueries } from "../../src/http/queries.js";
import { parsePrefix } from "../../src/net/address.js";
import { Store } from "../../src/store/store.js";

function setup(t: test.TestContext): { store: Store; api: ApiQueries } {
  const dir = mkdtempSync(join(tmpdir(), "iblock-api-within-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(join(dir, "iblock.sqlite"));
  t.after(() => store.close());
  return { store, api: new ApiQueries(store.database) };
}

const ban = (store: Store, ...addresses: string[]): void => {
  store.importBans(
    addresses.map((a) => parsePrefix(a)),
    { source: "cli", reason: null, durationMs: Infinity },
  );
};

test("pages of a network's bans come in the order of their text, each once, and nothing from beside it", (t) => {
  const { store, api } = setup(t);
  // Made out of address order, with neighbours whose text starts the same way.
  ban(store, "198.51.100.9", "198.51.100.0/28", "198.51.10.1", "198.51.100.200", "198.51.1.1", "2001:db8::/64", "198.51.100.17");
  ban(store, "198.51.100.30");
  const seen: string[] = [];
  let after = 0;
  for (let pages = 0; pages < 10; pages++) {
    const page = api.bans({ after, limit: 2, within: parsePrefix("198.51.100.0/24") });
    seen.push(...page.rows.map((r) => r.prefix));
    if (page.next === null) break;
    after = page.next;
  }
  assert.deepEqual(seen, ["198.51.100.0/28", "198.51.100.17/32", "198.51.100.200/32", "198.51.100.30/32", "198.51.100.9/32"]);
  assert.deepEqual(
    api.bans({ after: 0, limit: 10, within: parsePrefix("203.0.113.0/24") }).rows,
    [],
    "a network without bans has none",
  );
  // A cursor whose ban was pruned meanwhile: said, not a listing started over.
  assert.throws(() => api.bans({ after: 999_999, limit: 2, within: parsePrefix("198.51.100.0/24") }), /after=999999: no such ban any more/);
});

test("the read starts at the network, or at the cursor inside it", (t) => {
  const { store, api } = setup(t);
  const q = (api as unknown as { q: Record<string, { source: string }> }).q;
  const plan = store.database
    .prepare<Record<string, unknown>, { detail: string }>(`EXPLAIN QUERY PLAN ${q.bansIn?.source ?? ""}`)
    .all({ from: "a", hi: "b", now: 0, source: null, since: 0, limit: 1 })
    .map((r) => r.detail)
    .join(" | ");
  assert.match(plan, /USING INDEX bans_open \(prefix>\? AND prefix<\?\)/);
});
