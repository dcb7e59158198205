import type { Config } from "../config.js";
import { readSecret } from "../cluster/config.js";
import { redisPassword } from "../cluster/redis-password.js";
import { readRedisTls } from "../cluster/redis-tls.js";
import { readToken } from "../http/token.js";
import type { Finding } from "./finding.js";
import {
  CLUSTER_SECRET,
  CROWDSEC_PASSWORD,
  feedKeyFile,
  HOOK_SECRET,
  HTTP_READ_TOKEN,
  HTTP_TOKEN,
  readApiKey,
  readHmacKey,
  readPassword,
  REDIS_PASSWORD,
  REDIS_TLS_KEY,
  REPORT_KEY,
  type SecretFileKey,
} from "../secret-file.js";

/** Each secret file the config names, read by the very function `run` reads it with (so doctor refuses what run refuses). */
interface SecretReader {
  which: SecretFileKey;
  read: (c: Config, file: string, env: NodeJS.ProcessEnv) => unknown;
  /** What the refusal does: the daemon's start by default. */
  refused?: string;
}

const READERS: SecretReader[] = [
  { which: HTTP_TOKEN, read: (_c, file, env) => readToken(HTTP_TOKEN, file, env) },
  { which: HTTP_READ_TOKEN, read: (_c, file, env) => readToken(HTTP_READ_TOKEN, file, env) },
  { which: CLUSTER_SECRET, read: (_c, file, env) => readSecret(file, env) },
  { which: REDIS_PASSWORD, read: (c, _file, env) => c.cluster && redisPassword(c.cluster, c.source, env) },
  { which: REDIS_TLS_KEY, read: (c, _file, env) => c.cluster && readRedisTls(c.cluster, env) },
  { which: REPORT_KEY, read: (_c, file, env) => readApiKey(REPORT_KEY, file, env) },
  { which: HOOK_SECRET, read: (_c, file, env) => readHmacKey(HOOK_SECRET, file, env) },
  { which: CROWDSEC_PASSWORD, read: (_c, file, env) => readPassword(CROWDSEC_PASSWORD, file, env) },
];

/** A CrowdSec feed's bouncer key, read as each refresh reads it. */
const feedReaders = (c: Config): SecretReader[] =>
  c.feed.flatMap((f) => {
    if (f.api_key_file === undefined) return [];
    const which = feedKeyFile(f.name);
    return [{ which, read: (_c, file, env) => readApiKey(which, file, env), refused: `every refresh of feed ${f.name} would fail` }];
  });

/** One finding for each secret file the config names: ok, or why `run` would refuse it. */
export function secretFileFindings(config: Config, env: NodeJS.ProcessEnv): Finding[] {
  return [...READERS, ...feedReaders(config)].flatMap(({ which, read, refused = '"iblock run" would refuse to start' }): Finding[] => {
    const file = which.path(config);
    if (file === undefined) return [];
    try {
      read(config, file, env);
      return [{ ok: true, what: `${which.key} ${file} can be read and holds a usable secret` }];
    } catch (e) {
      return [{ ok: false, what: `${(e as Error).message}: ${refused}` }];
    }
  });
}
