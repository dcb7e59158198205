import type { Config } from "./config.js";
import { checkStateFiles, DAEMON_UMASK, prepareStateDir, secureStateFiles } from "./state-dir.js";
import { Store } from "./store/store.js";

/**
 * The store opened for writing by a process other than the daemon (the inetd
 * one-shot, the CLI with no daemon): state_dir checked and made as the daemon
 * makes it, 0750, its files 0640 in `group` (never 0755 and 0644 by the umask
 * it was started with), and no planted link opened as the store (exit 78).
 */
export async function openOwnStore(config: Config): Promise<Store> {
  process.umask(DAEMON_UMASK);
  const gid = await prepareStateDir(config);
  checkStateFiles(config.state_dir);
  const store = new Store(config.database);
  secureStateFiles(config, gid);
  return store;
}
