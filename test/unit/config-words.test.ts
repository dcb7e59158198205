import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig, validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "iblock-config-words-"));
let n = 0;

/** The message a config text is refused with (exit 78). */
function refusal(text: string): string {
  const f = join(dir, `c${n++}.toml`);
  writeFileSync(f, text);
  try {
    loadConfig({ file: f, env: {} });
  } catch (e) {
    assert.ok(e instanceof IblockError, String(e));
    assert.equal(e.exitCode, EX_CONFIG);
    return e.message;
  }
  assert.fail(`accepted: ${text}`);
}

test("contradicting values are refused: ban_time_max below ban_time, listen_port a trap port", () => {
  assert.match(refusal('ban_time = "2h"\nban_time_max = "1h"\n'), /key "ban_time_max": 1h is shorter than ban_time \(2h\)/);
  assert.match(refusal('ban_time = "60d"\n'), /key "ban_time_max": 30d is shorter than ban_time \(60d\)/);
  assert.match(refusal("listen_port = 23\n"), /key "listen_port": 23 is also a trap port; pick a port outside trap_ports \(e\.g\. listen_port = 2507\)/);
  // The example is never a trap port itself.
  assert.match(refusal("trap_ports = [23, 2507, 2508]\nlisten_port = 2507\n"), /\(e\.g\. listen_port = 2509\)/);
  // Not contradictions: a permanent first ban, a cap equal to the ban.
  assert.equal(validateConfig({ ban_time: "permanent" }, "t").ban_time, Infinity);
  assert.equal(validateConfig({ ban_time: "2h", ban_time_max: "2h" }, "t").ban_time_max, 7_200_000);
});

test("errors are in our words: the key, the value, what is expected, an example", () => {
  const table = refusal("table = 5\n");
  assert.match(table, /key "table": value 5 is not valid: expected 1-31 letters.* \(e\.g\. table = "iblocked"\)/);
  assert.doesNotMatch(table, /Invalid input|received number/);
  const syslog = refusal('syslog = "yes"\n');
  assert.match(syslog, /key "syslog": value "yes" is not valid: expected true or false \(e\.g\. syslog = true\)/);
  const port = refusal("trap_ports = [21, 70000]\n");
  assert.match(port, /key "trap_ports\.1": value 70000 is not valid: expected a list of port numbers/);
  assert.doesNotMatch(port, /Too big|expected number to be/);
});

test("TOML syntax errors say where and what to do, not the parser's words", () => {
  const control = refusal('table = "a\u0001b"\n');
  assert.match(control, /not valid TOML: line 1, column \d+: a control character inside a quoted string/);
  assert.doesNotMatch(control, /control characters are not allowed/);
  assert.ok(!control.includes(String.fromCharCode(1)), "the control character itself is not printed");
  assert.match(refusal("ban_time = 24h\n"), /line 1, column \d+: a bare word where a value should be: quote text, e\.g\. ban_time = "24h"/);
});
