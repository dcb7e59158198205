import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Config } from "./config.js";
import { configError } from "./errors.js";

/** A config key that names a file of secrets, and the name systemd's LoadCredential= gives that file. */
export interface SecretFileKey {
  /** For messages, e.g. "[cluster] secret_file". */
  key: string;
  /** The file's name in $CREDENTIALS_DIRECTORY. */
  credential: string;
  /** The file the config names, if it names one. */
  path: (c: Config) => string | undefined;
}

export const CLUSTER_SECRET: SecretFileKey = { key: "[cluster] secret_file", credential: "iblock-cluster-secret", path: (c) => c.cluster?.secret_file };
export const REDIS_PASSWORD: SecretFileKey = { key: "[cluster] password_file", credential: "iblock-redis-password", path: (c) => c.cluster?.password_file };
export const HTTP_TOKEN: SecretFileKey = { key: "[http] token_file", credential: "iblock-http-token", path: (c) => c.http.token_file };
export const HTTP_READ_TOKEN: SecretFileKey = { key: "[http] read_token_file", credential: "iblock-http-read-token", path: (c) => c.http.read_token_file };

/**
 * Every key that names a secret file: `iblock setup systemd` passes each one
 * the config names with LoadCredential=, and readSecretFile reads it under
 * its own credential name.
 */
export const SECRET_FILE_KEYS: readonly SecretFileKey[] = [CLUSTER_SECRET, REDIS_PASSWORD, HTTP_TOKEN, HTTP_READ_TOKEN];

/** The credentials of a config: key, name and absolute path of each secret file it names. */
export function credentialsOf(c: Config): { key: string; credential: string; path: string }[] {
  return SECRET_FILE_KEYS.flatMap((k) => {
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
function readableByOthers(st: { mode: number; gid: number }, fromSystemd: boolean): boolean {
  if (!fromSystemd) return (st.mode & 0o077) !== 0;
  return (st.mode & 0o007) !== 0 || ((st.mode & 0o070) !== 0 && st.gid !== 0);
}

/**
 * A secret file's content, read once at start. Refused when its group or
 * others may read it (as ssh refuses a private key): whoever reads it holds
 * the secret.
 */
export function readSecretFile(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const { path: source, fromSystemd } = sourceOf(which, file, env);
  let st: { mode: number; gid: number };
  let content: Buffer;
  try {
    st = statSync(source);
    content = readFileSync(source);
  } catch (e) {
    throw configError(`${which.key}: cannot read ${source}: ${(e as Error).message}`);
  }
  if (readableByOthers(st, fromSystemd)) {
    throw configError(`${which.key}: ${source} has mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}: expected 0600 or 0400 (its group or others may read it; chmod 600 ${source})`);
  }
  return content;
}
