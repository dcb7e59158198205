import type { Config } from "../config.js";
import { readSecret } from "../cluster/config.js";
import { redisPassword } from "../cluster/redis-password.js";
import { readRedisTls } from "../cluster/redis-tls.js";
import { readToken } from "../http/token.js";
import type { Finding } from "./finding.js";
import { CLUSTER_SECRET, HTTP_READ_TOKEN, HTTP_TOKEN, REDIS_PASSWORD, REDIS_TLS_KEY, type SecretFileKey } from "../secret-file.js";

/** Each secret file the config names, read by the very function `run` reads it with (so doctor refuses what run refuses). */
const READERS: { which: SecretFileKey; read: (c: Config, file: string, env: NodeJS.ProcessEnv) => unknown }[] = [
  { which: HTTP_TOKEN, read: (_c, file, env) => readToken(HTTP_TOKEN, file, env) },
  { which: HTTP_READ_TOKEN, read: (_c, file, env) => readToken(HTTP_READ_TOKEN, file, env) },
  { which: CLUSTER_SECRET, read: (_c, file, env) => readSecret(file, env) },
  { which: REDIS_PASSWORD, read: (c, _file, env) => c.cluster && redisPassword(c.cluster, c.source, env) },
  { which: REDIS_TLS_KEY, read: (c, _file, env) => c.cluster && readRedisTls(c.cluster, env) },
];

/** One finding for each secret file the config names: ok, or why `run` would refuse it. */
export function secretFileFindings(config: Config, env: NodeJS.ProcessEnv): Finding[] {
  return READERS.flatMap(({ which, read }): Finding[] => {
    const file = which.path(config);
    if (file === undefined) return [];
    try {
      read(config, file, env);
      return [{ ok: true, what: `${which.key} ${file} can be read and holds a usable secret` }];
    } catch (e) {
      return [{ ok: false, what: `${(e as Error).message}: "iblock run" would refuse to start` }];
    }
  });
}
