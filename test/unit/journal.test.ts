// Under systemd, stderr is a journald stream and each line carries its priority
// (`<6>` info, `<4>` warning, `<3>` error), so `journalctl -p warning` works.
// JOURNAL_STREAM is set here the way systemd sets it: the device and inode of
// the stream on stderr.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const LOG_TS = fileURLToPath(new URL("../../src/log.ts", import.meta.url));
const SCRIPT = `import(${JSON.stringify(LOG_TS)}).then((m) => { const l = new m.Logger(); l.info("up"); l.warn("slow"); l.error("down"); })`;

/** stderr of a node process logging one line of each level; `journal` sets JOURNAL_STREAM: "match" to its stderr. */
function stderrOf(journal: "match" | "other" | "none"): string {
  const env = { ...process.env };
  delete env.JOURNAL_STREAM;
  // The shell names its own stderr (the pipe node inherits) before exec'ing node.
  const set = journal === "match" ? 'JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"; export JOURNAL_STREAM; ' : journal === "other" ? "JOURNAL_STREAM=1:2; export JOURNAL_STREAM; " : "";
  const r = spawnSync("sh", ["-c", `${set}exec "$0" --import tsx -e "$1"`, process.execPath, SCRIPT], { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

void test("on a journald stream each line starts with its syslog priority", () => {
  assert.equal(stderrOf("match"), "<6>iblock: up\n<4>iblock: warning: slow\n<3>iblock: error: down\n");
});

void test("elsewhere (no JOURNAL_STREAM, or one naming another stream) lines are plain", () => {
  const plain = "iblock: up\niblock: warning: slow\niblock: error: down\n";
  assert.equal(stderrOf("none"), plain);
  assert.equal(stderrOf("other"), plain);
});
