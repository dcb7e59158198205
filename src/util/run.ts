import { spawn } from "node:child_process";

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    const why = stderr.trim().split("\n").slice(0, 6).join(" | ") || `exit code ${code ?? "none (killed)"}`;
    super(`${argv.join(" ")}: ${why}`);
    this.name = "CommandError";
  }
}

/**
 * Run a program with an argument vector (never a shell), optionally feeding it
 * `input` on stdin. Rejects with the program's stderr when it fails or takes
 * longer than `timeoutMs`: a hung firewall command must not hang the daemon.
 */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error("run: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    // Our own timer, not spawn's `timeout`: Node 20 keeps that one running (and the
    // process alive for its whole length) when the program cannot be started at all.
    const timer = setTimeout(() => child.kill(), opts.timeoutMs ?? 30_000);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => undefined); // the program may exit before reading it all
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new CommandError(argv, null, e.message));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(argv, code, stderr || (signal ? `killed by ${signal}` : "")));
    });
    child.stdin.end(opts.input ?? "");
  });
}
