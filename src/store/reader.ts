import { accessSync, constants } from "node:fs";
import { dataError, EX_NOINPUT, IblockError, noInputError, noPermError } from "../errors.js";
import { Store } from "./store.js";

/** Where the store lies: the file, and the state_dir it should be in (for the error when it is not). */
export interface StorePlace {
  database: string;
  state_dir: string;
}

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
function unreadable(config: StorePlace): IblockError | undefined {
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
 * The store opened read-only by the CLI itself: listing a million bans costs
 * the daemon nothing (SQLite's WAL lets readers run beside its writer).
 * A store that is not there or may not be read is an error naming the path
 * (exit 66 or 77), never "no bans": a typo in state_dir or a missing group
 * must not read as a quiet host. Nothing is made here.
 */
export function openReader(config: StorePlace): Store {
  const why = unreadable(config);
  if (why) throw why;
  try {
    return new Store(config.database, { readonly: true });
  } catch (e) {
    // Readable, yet SQLite could not open it: its -shm or -wal file not ours to read, or
    // (no iblock has the store open: an inetd setup between hits) no -shm yet, which
    // SQLite must make beside the store and a reader of `group` may not.
    const code = (e as { code?: string }).code ?? "";
    if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN")) {
      throw noPermError(
        `cannot open the store ${config.database} read-only as ${who()}: ${(e as Error).message} (with no iblock holding it open, SQLite must create ${config.database}-shm, which needs write access to state_dir: run as root or as the daemon's user)`,
      );
    }
    throw dataError(`cannot open the store ${config.database}: ${(e as Error).message}`);
  }
}

/** `fn` on the store opened read-only (openReader's errors), closed after, whatever `fn` does. */
export function withReader<T>(config: StorePlace, fn: (store: Store) => T): T {
  const store = openReader(config);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** The same, for `fn` that awaits (a listing written as it is read). */
export async function withReaderAsync<T>(config: StorePlace, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openReader(config);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}
