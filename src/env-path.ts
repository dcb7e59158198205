import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";

/**
 * The PATH iblock uses when it is started with none: Debian's openbsd-inetd
 * removes PATH from the services it starts, and a bare `env -i` or a minimal
 * supervisor may too. The directories are the ones systemd gives its services
 * and Debian gives root (login.defs ENV_SUPATH), so nft, conntrack, ss, logger,
 * pfctl and a command_prefix such as doas are found where every distribution
 * and the BSDs put them. Only root-owned system directories: no "." and no
 * home directory, so a missing PATH can never make us run someone's program.
 */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Put DEFAULT_PATH in place when PATH is unset or empty; a PATH that was given is kept as is. */
export function ensurePath(env: NodeJS.ProcessEnv = process.env): void {
  if (!env.PATH) env.PATH = DEFAULT_PATH;
}

/** Where `name` is found on PATH (as spawn would find it), or undefined. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  for (const dir of (env.PATH || DEFAULT_PATH).split(":")) {
    const path = join(dir || ".", name);
    if (isExecutable(path)) return path;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
