import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "./store/sqlite.js";
import { IblockError, EX_TEMPFAIL } from "./errors.js";

// Node has no flock(2). SQLite's file locks (fcntl on POSIX) are what we need:
// the kernel drops them when the process dies, kill -9 included, so there is
// never a stale lock to clean up and no pid to trust; and better-sqlite3 is
// already here, on Linux and the BSDs alike. An exclusive transaction that is
// never committed holds the lock for as long as the daemon runs.
export const LOCK_FILE = "iblock.lock";
// Written by the holder once it has the lock, to name it in messages.
const PID_FILE = "iblock.pid";
// A CLI probing the lock holds it for a moment: a starting daemon waits this long for it.
const TAKE_WAIT_MS = 2_000;

/** The running daemon's pid, or "unknown" when the lock is held but the pid file cannot be read. */
export type Holder = number | "unknown";

const isBusy = (e: unknown): boolean => (e as { code?: string }).code === "SQLITE_BUSY";

function readPid(stateDir: string): Holder {
  try {
    const pid = Number(readFileSync(join(stateDir, PID_FILE), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : "unknown";
  } catch {
    return "unknown";
  }
}

/** One daemon per state dir: held from before anything else until the process ends. */
export class StateLock {
  private constructor(private readonly db: Database.Database) {}

  /** Take the lock, or throw EX_TEMPFAIL naming the daemon that holds it. */
  static take(stateDir: string): StateLock {
    const db = openDatabase(join(stateDir, LOCK_FILE), { timeout: TAKE_WAIT_MS });
    try {
      db.exec("BEGIN EXCLUSIVE");
    } catch (e) {
      db.close();
      if (isBusy(e)) throw new IblockError(`iblock is already running (pid ${readPid(stateDir)}) with state_dir ${stateDir}`, EX_TEMPFAIL);
      throw e;
    }
    writeFileSync(join(stateDir, PID_FILE), `${process.pid}\n`);
    return new StateLock(db);
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Who holds the state dir's lock: a pid, "unknown", or undefined when nobody
 * does (or we cannot tell: no lock file, or no right to read it).
 */
export function lockHolder(stateDir: string): Holder | undefined {
  let db: Database.Database | undefined;
  try {
    db = openDatabase(join(stateDir, LOCK_FILE), { readonly: true, fileMustExist: true, timeout: 0 });
    db.prepare("SELECT count(*) FROM sqlite_master").get();
    return undefined;
  } catch (e) {
    return isBusy(e) ? readPid(stateDir) : undefined;
  } finally {
    db?.close();
  }
}
