import { statSync } from "node:fs";
import { configError } from "../errors.js";
import { readRedisPassword, type ClusterConfig } from "./config.js";
import { parseRedisTarget, passwordsIn } from "./redis-target.js";

/**
 * The Redis password, if there is one outside the URL: from password_file.
 * A password may also stay in `redis` (or sentinel_password), but then the
 * config file must be as private as a secret file: 0600 or 0400, owned by
 * root or iblock's user. Its group is refused too: a config's group is
 * usually the readers' (`group`, a munin plugin that reads the config to find
 * the store) or the admins', and neither needs the fleet's Redis password.
 */
export function redisPassword(config: ClusterConfig, configFile: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const inUrl = passwordsIn(parseRedisTarget(config.redis));
  if (config.password_file !== undefined && inUrl.redis) {
    throw configError(`cluster: the Redis password is both in "redis" and in password_file ${config.password_file}: keep it in password_file only`);
  }
  if (inUrl.redis || inUrl.sentinel) checkPrivate(configFile);
  return config.password_file === undefined ? undefined : readRedisPassword(config.password_file, env);
}

function checkPrivate(file: string): void {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw configError(`cluster: cannot check who may read config ${file}, which holds a Redis password: ${(e as Error).message}`);
  }
  const fix = `or move the password to [cluster] password_file`;
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) {
    throw configError(`cluster: config ${file} holds a Redis password and is owned by uid ${st.uid}, who may read it: chown it to root or iblock's user (uid ${uid}), ${fix}`);
  }
  if (st.mode & 0o077) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    throw configError(`cluster: config ${file} holds a Redis password and has mode ${mode}: its group or others may read it; expected 0600 or 0400 (chmod 600 ${file}), ${fix}`);
  }
}
