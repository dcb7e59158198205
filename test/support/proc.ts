// Child processes for tests and the bench: always an argv array, never a shell,
// always bounded in time.
import { spawn, type ChildProcess } from "node:child_process";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the program's stdin, which is then closed. */
  input?: string;
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Working directory; default this process's. */
  cwd?: string;
  /** Reject unless the exit code is 0. Default true. */
  check?: boolean;
}

/** Run a program to its end and collect its output. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error("run: empty argv"));
  const check = opts.check ?? true;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: "SIGKILL",
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => undefined); // the program may exit before reading its input
    child.on("error", (e) => reject(new Error(`${argv.join(" ")}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const result = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (check && code !== 0) {
        const why = result.stderr.trim() || (signal ? `killed by ${signal}` : `exit code ${String(code)}`);
        reject(new Error(`${argv.join(" ")}: ${why}`));
      } else {
        resolve(result);
      }
    });
    child.stdin.end(opts.input ?? "");
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` until it returns something other than undefined/false, at most
 * `timeoutMs`; throws naming `what` when it never does.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 50;
  let lastError: unknown;
  for (let i = 0; ; i++) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline || i > 100_000) break;
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
  const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A long-running child whose stdout and stderr are kept line by line, so a
 * test can wait for a line (a daemon's "ready", a helper's "listening").
 */
export class LineProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<ExitInfo>;
  private exit: ExitInfo | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly partial = { stdout: "", stderr: "" };

  constructor(
    readonly argv: readonly string[],
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.flush();
        this.exit = { code, signal };
        resolve(this.exit);
        this.wake();
      });
      // A spawn failure (ENOENT) emits "error" and then "close".
      child.on("error", (e) => this.push(`[spawn error] ${e.message}`));
    });
    for (const name of ["stdout", "stderr"] as const) {
      const stream = child[name];
      if (!stream) continue;
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const text = this.partial[name] + chunk;
        const parts = text.split("\n");
        this.partial[name] = parts.pop() ?? "";
        for (const line of parts) this.push(line);
      });
    }
  }

  static start(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): LineProcess {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error("LineProcess: empty argv");
    const child = spawn(cmd, args, {
      stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      env: opts.env ?? process.env,
    });
    child.stdin?.on("error", () => undefined);
    return new LineProcess(argv, child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  /** The last `n` lines, for assertion messages. */
  tail(n = 40): string {
    return this.lines.slice(-n).join("\n");
  }

  /** Resolve with the first line at index >= `from` matching `re`; reject on timeout or exit. */
  waitForLine(re: RegExp, timeoutMs = 10_000, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      let scanned = from;
      const check = (): boolean => {
        for (; scanned < this.lines.length; scanned++) {
          const line = this.lines[scanned];
          if (line !== undefined && re.test(line)) {
            done();
            resolve(line);
            return true;
          }
        }
        if (this.exit) {
          done();
          reject(new Error(`${this.describe()} exited (${describeExit(this.exit)}) before printing ${String(re)}; output:\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${String(re)} from ${this.describe()} within ${timeoutMs} ms; output:\n${this.tail()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(onWake);
      };
      const onWake = (): void => {
        check();
      };
      if (!check()) this.waiters.add(onWake);
    });
  }

  /** Send `signal` and wait for the exit, SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), timeoutMs);
    });
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (first !== "late") return first;
    this.child.kill("SIGKILL");
    return this.exited;
  }

  private describe(): string {
    return this.argv.slice(0, 8).join(" ");
  }

  private push(line: string): void {
    this.lines.push(line);
    this.wake();
  }

  private flush(): void {
    for (const name of ["stdout", "stderr"] as const) {
      if (this.partial[name]) this.push(this.partial[name]);
      this.partial[name] = "";
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${String(e.code)}`;
}
