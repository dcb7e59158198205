// Set-ups that several attack tests share.
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "smol-toml";

/**
 * A state dir whose store is a link someone planted to a file of theirs
 * (`target`, empty), and a config for it with `extra` keys. The environment
 * to run iblock with carries no IBLOCK_CONFIG or IBLOCK_STATE_DIR of the
 * runner's, so the config says where the state is.
 */
export async function plantedStoreLink(
  dir: string,
  extra: Record<string, unknown> = {},
): Promise<{ stateDir: string; target: string; config: string; env: NodeJS.ProcessEnv }> {
  const stateDir = join(dir, "state");
  await mkdir(stateDir, { mode: 0o750 });
  const target = join(dir, "precious");
  await writeFile(target, "");
  await symlink(target, join(stateDir, "iblock.sqlite"));
  const config = join(dir, "iblock.toml");
  await writeFile(config, stringify({ state_dir: stateDir, firewall: "none", ...extra }));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.IBLOCK_CONFIG;
  delete env.IBLOCK_STATE_DIR;
  return { stateDir, target, config, env };
}
