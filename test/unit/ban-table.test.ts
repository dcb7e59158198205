// `iblock list` as a person reads it (issue 28): aligned columns, local time
// (or UTC) to the second with its offset, and how long each ban has left.
import assert from "node:assert/strict";
import { test } from "node:test";
import { banCells, columnWidths, expiresIn, headerLine, rowLine, tableTime } from "../../src/commands/ban-table.js";
import type { BanRow } from "../../src/store/store.js";

// Set before the first Date is read: Node takes a change of TZ at once.
process.env.TZ = "Europe/Paris";

const row = (over: Partial<BanRow>): BanRow => ({
  id: 1,
  origin: null,
  end_kind: null,
  prefix: "192.0.2.3/32",
  first_seen: Date.UTC(2026, 11, 6, 16, 14, 3, 625),
  last_seen: Date.UTC(2026, 11, 6, 16, 14, 3, 625),
  hits: 1,
  port: 23,
  source: "trap",
  reason: null,
  expires_at: null,
  ended_at: null,
  end_reason: null,
  ...over,
});

void test("times: local, to the second, with the offset of that date (DST included); or UTC", () => {
  assert.equal(tableTime(Date.UTC(2026, 11, 6, 16, 14, 3, 625)), "2026-12-06 17:14:03 +0100");
  assert.equal(tableTime(Date.UTC(2026, 6, 1, 12, 0, 0, 999)), "2026-07-01 14:00:00 +0200");
  assert.equal(tableTime(Date.UTC(2026, 6, 1, 12, 0, 0, 999), true), "2026-07-01 12:00:00 +0000");
  process.env.TZ = "Asia/Kolkata";
  try {
    assert.equal(tableTime(Date.UTC(2026, 11, 6, 16, 14, 3)), "2026-12-06 21:44:03 +0530");
    process.env.TZ = "America/St_Johns";
    assert.equal(tableTime(Date.UTC(2026, 11, 6, 16, 14, 3)), "2026-12-06 12:44:03 -0330");
  } finally {
    process.env.TZ = "Europe/Paris";
  }
  // Both forms are dates Date.parse reads back to the second.
  assert.equal(Date.parse(tableTime(Date.UTC(2026, 11, 6, 16, 14, 3))), Date.UTC(2026, 11, 6, 16, 14, 3));
  assert.equal(Date.parse(tableTime(Date.UTC(2026, 11, 6, 16, 14, 3), true)), Date.UTC(2026, 11, 6, 16, 14, 3));
});

void test("expires in: days and hours, hours and minutes, minutes, seconds; permanent; expired", () => {
  const now = Date.UTC(2026, 11, 6, 12);
  assert.equal(expiresIn(null, now), "permanent");
  assert.equal(expiresIn(now, now), "expired");
  assert.equal(expiresIn(now - 1, now), "expired");
  assert.equal(expiresIn(now + 42_900, now), "42s");
  assert.equal(expiresIn(now + 12 * 60_000 + 59_000, now), "12m");
  assert.equal(expiresIn(now + 3 * 3_600_000 + 12 * 60_000 + 30_000, now), "3h 12m");
  assert.equal(expiresIn(now + 2 * 86_400_000 + 4 * 3_600_000 + 59 * 60_000, now), "2d 4h");
});

void test("the header lines up with the rows: each column starts where its title does, numbers end under theirs", () => {
  const now = Date.UTC(2026, 11, 6, 16, 30);
  const rows = [
    row({}),
    row({ prefix: "2001:db8:abcd:1234::/64", port: 445, hits: 1234, source: "feed:spamhaus", reason: "a\treason", expires_at: now + 3 * 3_600_000 + 12 * 60_000 }),
    row({ prefix: "198.51.100.0/24", port: null, source: "cli", expires_at: now + 86_400_000 + 60_000 }),
  ].map((r) => banCells(r, now));
  const widths = columnWidths(rows);
  const header = headerLine(widths);
  const lines = rows.map((c) => rowLine(c, widths));
  assert.equal(header, "PREFIX                   SINCE                      EXPIRES                    EXPIRES IN  PORT  HITS  SOURCE         REASON");
  assert.deepEqual(lines, [
    "192.0.2.3/32             2026-12-06 17:14:03 +0100  permanent                  permanent     23     1  trap",
    "2001:db8:abcd:1234::/64  2026-12-06 17:14:03 +0100  2026-12-06 20:42:00 +0100  3h 12m       445  1234  feed:spamhaus  a\\treason",
    "198.51.100.0/24          2026-12-06 17:14:03 +0100  2026-12-07 17:31:00 +0100  1d 0h          -     1  cli",
  ]);
  for (const l of [header, ...lines]) assert.ok(!l.includes("\t"), "no tab: a tab in a reason is escaped, columns are spaces");
});
