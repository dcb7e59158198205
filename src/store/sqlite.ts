import Database from "better-sqlite3";
import { unavailableError } from "../errors.js";

/**
 * Every better-sqlite3 object this process makes, kept reachable until it
 * exits. From Node 24.19, a node::ObjectWrap finalized by the garbage
 * collector outside JavaScript aborts the process (`Assertion failed: (env)
 * != nullptr` in RemoveEnvironmentCleanupHook), and better-sqlite3 before 13
 * (which needs Node 22) wraps its databases, statements and iterators that
 * way. Objects never collected are never finalized by the collector; at exit
 * Node's own cleanup hooks take them down safely. What is kept grows with
 * what the code prepares, so the daemon prepares its statements once and
 * reuses them; the CLI's few per command die with it.
 */
const kept: object[] = [];
// Node 23 and later (24.19 first showed it); on older Nodes nothing needs keeping.
const MUST_KEEP = Number(process.versions.node.split(".")[0]) >= 23;

function keep<T extends object>(o: T): T {
  if (MUST_KEEP) kept.push(o);
  return o;
}

/**
 * `new Database(...)`; better-sqlite3 loads its native module at the first
 * one. That module is built for one Node (its NODE_MODULE_VERSION): under
 * another, dlopen fails, and the admin is told which Node runs and what to do
 * rather than shown Node's advice to run npm.
 */
function newDatabase(file: string, options?: Database.Options): Database.Database {
  try {
    return new Database(file, options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ERR_DLOPEN_FAILED") throw e;
    const reason = (e as Error).message.replace(/\s+/g, " ");
    throw unavailableError(
      `cannot load SQLite (better-sqlite3's native module) into Node ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}): run iblock with the Node it was built for (the Debian package names it in its Depends), or rebuild it for this one (npm rebuild better-sqlite3 in a checkout). ${reason}`,
    );
  }
}

/** `new Database(...)`, with it and everything it prepares or iterates kept alive (see above). */
export function openDatabase(file: string, options?: Database.Options): Database.Database {
  const db = keep(newDatabase(file, options));
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const stmt = keep(prepare(source));
    const iterate = stmt.iterate.bind(stmt);
    stmt.iterate = ((...params: unknown[]) => keep(iterate(...params))) as typeof stmt.iterate;
    return stmt;
  }) as typeof db.prepare;
  // better-sqlite3's own pragma() prepares a statement and drops it: prepared here, it is kept.
  db.pragma = ((source: string, options?: Database.PragmaOptions) => {
    const stmt = db.prepare(`PRAGMA ${source}`);
    if (!stmt.reader) {
      stmt.run();
      return options?.simple ? undefined : [];
    }
    return options?.simple ? stmt.pluck().get() : stmt.all();
  });
  return db;
}
