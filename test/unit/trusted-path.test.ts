// `iblock setup systemd|rc|inetd` warns when the program or config it names
// could be changed by someone other than root, who would then run commands
// with the rights the generated file gives.
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { changeableByOthers } from "../../src/setup/trusted-path.js";
import { requireRoot } from "../support/env.js";

test("a file, its links and the directories on the way must be root's and not writable by others", (t) => {
  if (!requireRoot(t, [])) return;
  const dir = mkdtempSync(join(tmpdir(), "iblock-trusted-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const file = join(dir, "iblock.toml");
  writeFileSync(file, "", { mode: 0o644 });
  // Root's file in root's directories, under the sticky /tmp: only root can change it.
  assert.equal(changeableByOthers(file), undefined);

  chmodSync(file, 0o664);
  assert.match(changeableByOthers(file) ?? "", /is writable by group/);
  chmodSync(file, 0o644);

  const users = join(dir, "home");
  mkdirSync(users, { mode: 0o755 });
  chownSync(users, 65534, 65534);
  const theirs = join(users, "iblock.toml");
  writeFileSync(theirs, "", { mode: 0o644 });
  assert.match(changeableByOthers(theirs) ?? "", /home is owned by uid 65534/);

  // A root link into a user's directory: where it leads counts.
  const link = join(dir, "link.toml");
  symlinkSync(theirs, link);
  assert.match(changeableByOthers(link) ?? "", /home is owned by uid 65534/);
  assert.match(changeableByOthers(join(dir, "missing")) ?? "", /cannot be read/);
});
