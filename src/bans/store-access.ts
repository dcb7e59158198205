import { accessSync, constants } from "node:fs";
import type { Config } from "../config.js";
import { dataError, EX_NOINPUT, IblockError, noInputError, noPermError } from "../errors.js";

const who = (): string => {
  const uid = process.geteuid?.();
  return uid === undefined ? "this user" : `uid ${uid}`;
};

/** No store there (yet): exit 66 for a reader; nothing to count or compare for doctor and teardown. */
export class NoStoreError extends IblockError {
  constructor(message: string) {
    super(message, EX_NOINPUT);
    this.name = "NoStoreError";
  }
}

/** Why the store cannot be read, as an error naming the path; undefined when it can. */
export function unreadable(config: Config): IblockError | undefined {
  const file = config.database;
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") {
      return noPermError(`cannot read the store ${file}: permission denied for ${who()} (run as root, as the daemon's user, or as a member of the state_dir's group; see the key "group")`);
    }
    if (code !== "ENOENT" && code !== "ENOTDIR") return noInputError(`cannot read the store ${file}: ${(e as Error).message}`);
  }
  try {
    accessSync(config.state_dir, constants.F_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return noPermError(`cannot reach state_dir ${config.state_dir}: permission denied for ${who()}`);
    return new NoStoreError(`state_dir ${config.state_dir} does not exist: is state_dir (or IBLOCK_STATE_DIR) right, and has the daemon run with it?`);
  }
  return new NoStoreError(`no store in state_dir ${config.state_dir} (${file} does not exist): is state_dir (or IBLOCK_STATE_DIR) right, and has the daemon run with it?`);
}

/**
 * Why SQLite could not open a readable store read-only, as an error a person
 * can act on: its -shm or -wal file not ours to read, or (no iblock has the
 * store open: an inetd setup between hits) no -shm yet, which SQLite must
 * make beside the store and a reader of `group` may not.
 */
export function readOnlyOpenError(config: Config, e: unknown): IblockError {
  // Already an error a person can act on (a native module built for another Node).
  if (e instanceof IblockError) return e;
  const code = (e as { code?: string }).code ?? "";
  const message = e instanceof Error ? e.message : String(e);
  if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN")) {
    return noPermError(
      `cannot open the store ${config.database} read-only as ${who()}: ${message} (with no iblock holding it open, SQLite must create ${config.database}-shm, which needs write access to state_dir: run as root or as the daemon's user)`,
    );
  }
  return dataError(`cannot open the store ${config.database}: ${message}`);
}
