import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { configError, IblockError } from "./errors.js";

/** The parts of a config that name secret files (a structural type: the config module imports this one). */
interface SecretFileSections {
  cluster?: { secret_file: string; password_file?: string; tls_key_file?: string };
  http: { token_file?: string; read_token_file?: string };
  report?: { key_file: string };
  hooks?: { secret_file?: string };
  crowdsec?: { password_file: string };
  feed?: readonly { name: string; api_key_file?: string }[];
}

/** A config key that names a file of secrets, and the name systemd's LoadCredential= gives that file. */
export interface SecretFileKey {
  /** For messages, e.g. "[cluster] secret_file". */
  key: string;
  /** The file's name in $CREDENTIALS_DIRECTORY. */
  credential: string;
  /** The file the config names, if it names one. */
  path: (c: SecretFileSections) => string | undefined;
}

export const CLUSTER_SECRET: SecretFileKey = { key: "[cluster] secret_file", credential: "iblock-cluster-secret", path: (c) => c.cluster?.secret_file };
export const REDIS_PASSWORD: SecretFileKey = { key: "[cluster] password_file", credential: "iblock-redis-password", path: (c) => c.cluster?.password_file };
export const REDIS_TLS_KEY: SecretFileKey = { key: "[cluster] tls_key_file", credential: "iblock-redis-tls-key", path: (c) => c.cluster?.tls_key_file };
export const HTTP_TOKEN: SecretFileKey = { key: "[http] token_file", credential: "iblock-http-token", path: (c) => c.http.token_file };
export const CROWDSEC_PASSWORD: SecretFileKey = { key: "[crowdsec] password_file", credential: "iblock-crowdsec-password", path: (c) => c.crowdsec?.password_file };
export const HTTP_READ_TOKEN: SecretFileKey = { key: "[http] read_token_file", credential: "iblock-http-read-token", path: (c) => c.http.read_token_file };
export const REPORT_KEY: SecretFileKey = { key: "[report] key_file", credential: "iblock-report-key", path: (c) => c.report?.key_file };
export const HOOK_SECRET: SecretFileKey = { key: "[hooks] secret_file", credential: "iblock-hook-secret", path: (c) => c.hooks?.secret_file };

/**
 * Every key that names a secret file: `iblock setup systemd` passes each one
 * the config names with LoadCredential=, and readSecretFile reads it under
 * its own credential name.
 */
export const SECRET_FILE_KEYS: readonly SecretFileKey[] = [CLUSTER_SECRET, REDIS_PASSWORD, REDIS_TLS_KEY, HTTP_TOKEN, HTTP_READ_TOKEN, REPORT_KEY, HOOK_SECRET, CROWDSEC_PASSWORD];

/** A feed's key file (a CrowdSec bouncer key): one credential per feed, by its name. */
export const feedKeyFile = (name: string): SecretFileKey => ({
  key: `[[feed]] ${name} api_key_file`,
  credential: `iblock-feed-${name}-key`,
  path: (c) => c.feed?.find((f) => f.name === name)?.api_key_file,
});

/** The credentials of a config: key, name and absolute path of each secret file it names. */
export function credentialsOf(c: SecretFileSections): { key: string; credential: string; path: string }[] {
  const keys = [...SECRET_FILE_KEYS, ...(c.feed ?? []).map((f) => feedKeyFile(f.name))];
  return keys.flatMap((k) => {
    const path = k.path(c);
    return path === undefined ? [] : [{ key: k.key, credential: k.credential, path: resolve(path) }];
  });
}

/**
 * Where the secret is read from: systemd's copy when the service was given
 * one (LoadCredential=), else the file the config names. Under DynamicUser a
 * root-owned 0600 file cannot be read by the service; systemd reads it as
 * root and hands the service a copy of its own.
 */
function sourceOf(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv): { path: string; fromSystemd: boolean } {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (dir === undefined || !isAbsolute(dir)) return { path: file, fromSystemd: false };
  const copy = join(dir, which.credential);
  try {
    statSync(copy);
    return { path: copy, fromSystemd: true };
  } catch {
    return { path: file, fromSystemd: false };
  }
}

/**
 * Whether others than the owner may read it. systemd makes its copy 0400 and
 * owned by root, then grants the service's user read with an ACL, which stat
 * shows in the group bits (the ACL's mask: 0440, though root's group is
 * granted nothing); where the file system has no ACLs (ramfs) it gives the
 * copy to the service's user instead, 0400. Both pass; group bits on a copy
 * of another group, or any bit for others, do not.
 */
function readableByOthers(st: Stats, fromSystemd: boolean): boolean {
  if (!fromSystemd) return (st.mode & 0o077) !== 0;
  return (st.mode & 0o007) !== 0 || ((st.mode & 0o070) !== 0 && st.gid !== 0);
}

// A key, a token or a password: a few hundred bytes. More is a mistake (or /dev/zero).
export const SECRET_FILE_MAX = 64 * 1024;

/** Why the file opened is no secret file of ours, or undefined when it is one. */
function refusal(st: Stats, source: string, fromSystemd: boolean, uid: number): string | undefined {
  if (!st.isFile()) return `${source} is not a regular file`;
  if (st.uid !== 0 && st.uid !== uid) return `${source} is owned by uid ${st.uid}, not by root or iblock's user (uid ${uid}), who may read or change it: chown root ${source}`;
  if (readableByOthers(st, fromSystemd)) {
    return `${source} has mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}: expected 0600 or 0400 (its group or others may read it; chmod 600 ${source})`;
  }
  if (st.size > SECRET_FILE_MAX) return `${source} has ${st.size} bytes, more than a secret file's ${SECRET_FILE_MAX}`;
  return undefined;
}

/** At most SECRET_FILE_MAX bytes from fd; undefined when there are more (the file grew since fstat). */
function readAtMost(fd: number): Buffer | undefined {
  const buf = Buffer.alloc(SECRET_FILE_MAX + 1);
  let length = 0;
  for (let n = -1; n !== 0 && length < buf.length; length += n) n = readSync(fd, buf, length, buf.length - length, null);
  return length > SECRET_FILE_MAX ? undefined : buf.subarray(0, length);
}

/**
 * A secret file's content, read once at start. Refused, before a byte is
 * read, when it is a link (whoever placed it chose what we read), not a
 * regular file (a FIFO would hang the start, a device never end), owned by
 * someone else than root or iblock's user, readable by its group or others
 * (as ssh refuses a private key: whoever reads it holds the secret), or
 * larger than SECRET_FILE_MAX.
 */
export function readSecretFile(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const { path: source, fromSystemd } = sourceOf(which, file, env);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer; fstat then refuses it.
    fd = openSync(source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") throw configError(`${which.key}: ${source} is a symbolic link: give the file it leads to`);
    throw configError(`${which.key}: cannot read ${source}: ${(e as Error).message}`);
  }
  try {
    const why = refusal(fstatSync(fd), source, fromSystemd, process.geteuid?.() ?? 0);
    if (why !== undefined) throw configError(`${which.key}: ${why}`);
    const content = readAtMost(fd);
    if (content === undefined) throw configError(`${which.key}: ${source} has more than a secret file's ${SECRET_FILE_MAX} bytes`);
    return content;
  } catch (e) {
    if (e instanceof IblockError) throw e;
    throw configError(`${which.key}: cannot read ${source}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

// Shorter than this is a password, not a key.
const MIN_KEY_BYTES = 16;

/** An HMAC key (the fleet's secret, the hooks' webhooks): the file's text trimmed, at least 16 bytes. */
export function readHmacKey(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  // Trimmed: `openssl rand -hex 32 > FILE` leaves a line break.
  const key = Buffer.from(readSecretFile(which, file, env).toString("utf8").trim(), "utf8");
  if (key.length < MIN_KEY_BYTES) throw configError(`${which.key}: ${file} holds ${key.length} bytes: expected at least ${MIN_KEY_BYTES} (e.g. openssl rand -hex 32 > ${file})`);
  return key;
}

/** An API key sent in a header (AbuseIPDB, a CrowdSec bouncer): one word of printable characters, or a line break would end the header. */
export function readApiKey(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv = process.env): string {
  const key = readSecretFile(which, file, env).toString("utf8").trim();
  if (!/^[\x21-\x7e]{1,256}$/.test(key)) throw configError(`${which.key}: ${file} does not hold an API key (1-256 printable characters, no spaces)`);
  return key;
}

/** A password: the file's content without its final line break, not empty. */
export function readPassword(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv = process.env): string {
  const password = readSecretFile(which, file, env).toString("utf8").replace(/\r?\n$/, "");
  if (password === "") throw configError(`${which.key}: ${file} is empty: expected the password`);
  return password;
}
