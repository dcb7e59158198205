// better-sqlite3's native module that Node cannot load (built for another
// Node's ABI, or not a module at all: both fail in dlopen) is an error the
// admin can act on, exit 69, naming the Node that runs; not Node's advice to
// run npm, which means nothing to an admin of the Debian package.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { EX_UNAVAILABLE, IblockError } from "../../src/errors.js";
import { openDatabase } from "../../src/store/sqlite.js";

test("a native module dlopen refuses: exit 69 naming this Node and what to do", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-sqlite-load-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notAModule = join(dir, "better_sqlite3.node");
  writeFileSync(notAModule, "not an ELF object\n");
  assert.throws(
    () => openDatabase(join(dir, "store.sqlite"), { nativeBinding: notAModule }),
    (e: unknown) =>
      e instanceof IblockError &&
      e.exitCode === EX_UNAVAILABLE &&
      e.message.startsWith(`cannot load SQLite (better-sqlite3's native module) into Node ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}): run iblock with the Node it was built for`) &&
      e.message.includes(notAModule) &&
      !e.message.includes("\n"),
  );
});

test("other errors of opening a store stay better-sqlite3's own", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-sqlite-load-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.throws(
    () => openDatabase(join(dir, "absent.sqlite"), { fileMustExist: true }),
    (e: unknown) => !(e instanceof IblockError) && (e as { code?: string }).code === "SQLITE_CANTOPEN",
  );
});
