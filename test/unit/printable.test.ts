// Text from peers, feeds, Redis and the store reaches terminals and log lines
// with every character that could act on them or hide written out, and dates
// that are no date say so instead of throwing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Logger } from "../../src/log.js";
import { printable, printableJson } from "../../src/printable.js";
import { isoTime, timeMs } from "../../src/time-text.js";

test("every class of hidden or acting character is escaped, visibly", () => {
  const cases: [string, string][] = [
    ["\x1b[2J", "\\x1b[2J"], // C0: escape sequences
    ["\x00\x07\x08", "\\x00\\x07\\x08"],
    ["a\nb\rc\td", "a\\nb\\rc\\td"], // line breaks, tabs: named
    ["\x7f", "\\x7f"], // DEL
    ["\x9b31m\x85", "\\x9b31m\\x85"], // C1: CSI, NEL
    ["\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"], // bidi embeddings and overrides
    ["\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"], // bidi isolates
    ["\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"], // bidi marks
    ["\u200b\u200c\u200d\u2060\ufeff\u00ad", "\\u200b\\u200c\\u200d\\u2060\\ufeff\\xad"], // zero width, soft hyphen
    ["\u2028\u2029", "\\u2028\\u2029"], // line and paragraph separators
    ["\u3164\u115f\ufe0f", "\\u3164\\u115f\\ufe0f"], // fillers, variation selector: drawn as nothing
    ["\u{e0041}\u{e007f}", "\\u{e0041}\\u{e007f}"], // tags, beyond the BMP
    ["\ud800x", "\\ud800x"], // a lone surrogate
  ];
  for (const [raw, shown] of cases) assert.equal(printable(raw), shown, JSON.stringify(raw));
});

test("ordinary text is left as it is, backslashes and quotes included", () => {
  for (const text of ["203.0.113.7", "trap 23: scanner", 'bad "x\\"y"', "Zürich, 東京, emoji 🙂, café", "a\\x1b"]) {
    assert.equal(printable(text), text);
  }
});

test("JSON for a terminal: the same data once parsed, nothing that acts", () => {
  const value = { node: "a\x1b]0;x\x07\u202e\x9b", list: [1, "\u2066z"] };
  for (const indent of [undefined, 2]) {
    const text = printableJson(value, indent);
    assert.deepEqual(JSON.parse(text), value);
    // Nothing printable() would escape is left, but the layout's line breaks.
    assert.equal(printable(text.replace(/\n/g, "")), text.replace(/\n/g, ""));
    assert.match(text, /\\u202e/);
    assert.match(text, /\\u009b/);
  }
});

test("a log line quotes foreign text escaped; a message is one line", () => {
  const lines: string[] = [];
  const log = new Logger((line) => lines.push(line));
  log.warn("refused reason \u202eevil\x1b[31m\niblock: banned 203.0.113.9");
  assert.deepEqual(lines, ["iblock: warning: refused reason \\u202eevil\\x1b[31m\\niblock: banned 203.0.113.9"]);
});

test("dates: a whole number of ms from 1970 to 9999, else said to be invalid, never a throw", () => {
  assert.equal(isoTime(0), "1970-01-01T00:00:00.000Z");
  assert.equal(isoTime(1_764_000_000_000), "2025-11-24T16:00:00.000Z");
  assert.equal(isoTime("1764000000000"), "2025-11-24T16:00:00.000Z");
  assert.equal(isoTime(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
  assert.equal(isoTime(253_402_300_800_000), "invalid time (253402300800000)");
  assert.equal(isoTime(1e20), "invalid time (100000000000000000000)");
  assert.equal(isoTime("1e20"), "invalid time (1e20)");
  assert.equal(isoTime(-1), "invalid time (-1)");
  assert.equal(isoTime(1.5), "invalid time (1.5)");
  assert.equal(isoTime(NaN), "invalid time (NaN)");
  assert.equal(isoTime(Infinity), "invalid time (Infinity)");
  assert.equal(isoTime(" 12"), "invalid time ( 12)");
  assert.equal(isoTime("\x1b[2J"), "invalid time (\\x1b[2J)");
  assert.equal(isoTime("9".repeat(100)), `invalid time (${"9".repeat(40)})`);
  assert.equal(isoTime(null), null);
  assert.equal(isoTime(undefined), undefined);
  assert.equal(timeMs("1e20"), undefined);
  assert.equal(timeMs("42"), 42);
});
