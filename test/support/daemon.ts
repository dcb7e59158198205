// The real iblock daemon and CLI (dist/bin/cli.cjs, built by `npm run build`),
// run inside a test namespace with a config and state directory of their own.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "smol-toml";
import { exec, spawnIn } from "./netns.js";
import type { ExitInfo, LineProcess, RunResult } from "./proc.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI_JS = join(REPO_ROOT, "dist", "bin", "cli.cjs");

export type ConfigValue = string | number | boolean | readonly (string | number)[];
export type IblockConfig = Record<string, ConfigValue>;

/** Sysexits codes the CLI promises. */
export const EX = { OK: 0, USAGE: 64, DATAERR: 65, NOINPUT: 66, UNAVAILABLE: 69, NOPERM: 77, CONFIG: 78 } as const;

/** Throws unless `npm run build` has produced the CLI. */
export function requireBuild(): void {
  if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} does not exist: run \`npm run build\` first`);
}

/** A directory for one test's config and state, removed after the test. */
export async function tempDir(t: TestContext | undefined, prefix = "iblock-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t?.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Where one iblock instance keeps its config (dir/iblock.toml) and state
 * (dir/state). A daemon restarted on the same Instance sees the same store.
 */
export class Instance {
  readonly configPath: string;
  readonly stateDir: string;
  private readonly daemons: Daemon[] = [];

  constructor(
    readonly ns: string,
    readonly dir: string,
  ) {
    this.configPath = join(dir, "iblock.toml");
    this.stateDir = join(dir, "state");
  }

  /** Kill every daemon started here, then remove the directory. */
  async cleanup(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.kill9()));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Write the config; state_dir is always this instance's own. */
  async writeConfig(config: IblockConfig = {}): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    const text = stringify({ state_dir: this.stateDir, ...config });
    await writeFile(this.configPath, text);
  }

  /** Set for the daemon and the CLI of this instance (say a PATH with a broken nft first). */
  extraEnv: NodeJS.ProcessEnv = {};

  env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, IBLOCK_STATE_DIR: this.stateDir, ...this.extraEnv };
    delete env.IBLOCK_CONFIG;
    return env;
  }

  /** `iblock SUBCOMMAND -c CONFIG ARGS...` in this instance's namespace; never rejects on an exit code. */
  cli(subcommand: string, args: readonly string[] = [], timeoutMs = 20_000): Promise<RunResult> {
    requireBuild();
    return exec(this.ns, [process.execPath, CLI_JS, subcommand, "-c", this.configPath, ...args], {
      env: this.env(),
      check: false,
      timeoutMs,
    });
  }

  /** `iblock list --json`, parsed. */
  async list(): Promise<BanEntry[]> {
    const r = await this.cli("list", ["--json"]);
    if (r.code !== 0) throw new Error(`iblock list --json: exit ${String(r.code)}: ${r.stderr}`);
    const parsed: unknown = JSON.parse(r.stdout);
    if (!Array.isArray(parsed)) throw new Error(`iblock list --json: not an array: ${r.stdout.slice(0, 200)}`);
    return parsed as BanEntry[];
  }

  /** Start `iblock run -c CONFIG` and (by default) wait for its "ready" line. */
  async start(opts: { waitReady?: boolean; readyTimeoutMs?: number } = {}): Promise<Daemon> {
    requireBuild();
    const proc = spawnIn(this.ns, [process.execPath, CLI_JS, "run", "-c", this.configPath], { env: this.env() });
    const d = new Daemon(this, proc);
    this.daemons.push(d);
    if (opts.waitReady ?? true) {
      try {
        await d.waitForLine(/\bready\b/, opts.readyTimeoutMs ?? 20_000);
      } catch (e) {
        await proc.stop("SIGKILL");
        throw e;
      }
    }
    return d;
  }
}

/** One entry of `iblock list --json` (the fields tests rely on). */
export interface BanEntry {
  prefix: string;
  source: string;
  port: number | null;
  hits: number;
  [key: string]: unknown;
}

export class Daemon {
  constructor(
    readonly instance: Instance,
    readonly proc: LineProcess,
  ) {}

  get lines(): readonly string[] {
    return this.proc.lines;
  }

  get running(): boolean {
    return this.proc.running;
  }

  waitForLine(re: RegExp, timeoutMs = 10_000, from = 0): Promise<string> {
    return this.proc.waitForLine(re, timeoutMs, from);
  }

  /** The daemon's last log lines, for assertion messages. */
  tail(n = 40): string {
    return `--- iblock log (last ${n} lines) ---\n${this.proc.tail(n)}`;
  }

  /** SIGTERM and wait (SIGKILL after timeoutMs: the daemon finishes the bans in flight first, slower on a busy machine). */
  stop(timeoutMs = 30_000): Promise<ExitInfo> {
    return this.proc.stop("SIGTERM", timeoutMs);
  }

  /** kill -9, as a crash or an OOM kill would. */
  kill9(): Promise<ExitInfo> {
    return this.proc.stop("SIGKILL", 5000);
  }
}

/**
 * A fresh instance (config + state dir) in namespace `ns`. After test `t`, every
 * daemon it started is killed and its directory removed.
 */
export async function createInstance(t: TestContext, ns: string, config: IblockConfig = {}): Promise<Instance> {
  const inst = new Instance(ns, await tempDir(undefined));
  await inst.writeConfig(config);
  t.after(() => inst.cleanup());
  return inst;
}

/** createInstance + start: a ready daemon, cleaned up after test `t`. */
export async function startDaemon(t: TestContext, ns: string, config: IblockConfig = {}): Promise<Daemon> {
  const inst = await createInstance(t, ns, config);
  return inst.start();
}
