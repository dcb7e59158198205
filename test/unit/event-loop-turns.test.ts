// The daemon's listing of a million set elements (the scan after a start) must
// leave the event loop a turn between batches. A pipe hands over thousands of
// elements at once: handled in one go they held the daemon 40-100 ms at a
// million bans (found by profiling it).
import assert from "node:assert/strict";
import test from "node:test";
import { streamSetElements, type ListedElement } from "../../src/firewall/nft-listing.js";

/** Counts turns of the event loop (a setImmediate each) until stopped. */
function turnCounter(): { turns(): number; stop(): void } {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return { turns: () => turns, stop: () => void (running = false) };
}

// Stands in for `nft -n list set ...` (its arguments are ignored): 20,000
// elements in one write, as a set listing of that size comes through the pipe.
const FAKE_LISTING = String.raw`
const items = Array.from({ length: 20000 }, (_, i) => "198.18." + (i >> 8) + "." + (i & 255) + " expires 1h");
process.stdout.write("table inet iblock {\n\tset s {\n\t\telements = { " + items.join(", ") + " }\n\t}\n}\n");
`;

test("a set listing is handed on 250 elements at a time, with a turn of the event loop between", async () => {
  const counter = turnCounter();
  const seen: { size: number; turn: number }[] = [];
  let total = 0;
  await streamSetElements([process.execPath, "-e", FAKE_LISTING, "--"], "inet iblock", "s", (batch: ListedElement[]) => {
    seen.push({ size: batch.length, turn: counter.turns() });
    total += batch.length;
    return Promise.resolve();
  });
  counter.stop();
  assert.equal(total, 20_000);
  assert.ok(seen.every((b) => b.size <= 250), `batches of ${Math.max(...seen.map((b) => b.size))} elements`);
  for (let i = 1; i < seen.length; i++) {
    assert.ok((seen[i]?.turn ?? 0) > (seen[i - 1]?.turn ?? 0), `batches ${i - 1} and ${i} came in the same turn`);
  }
});
