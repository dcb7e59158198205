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
 * `maxOutput`: bytes kept of stdout and of stderr each (the rest is read and
 * dropped), for a program that is not ours (a hook).
 */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number; maxOutput?: number } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error("run: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    // Our own timer, not spawn's `timeout`: Node 20 keeps that one running (and the
    // process alive for its whole length) when the program cannot be started at all.
    // SIGKILL, since a program may ignore SIGTERM; and its pipes closed on our side,
    // since a child it left behind may hold them open and "close" would never come.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      child.stdout.destroy();
      child.stderr.destroy();
    }, opts.timeoutMs ?? 30_000);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const keep = (into: Buffer[]) => {
      let kept = 0;
      return (b: Buffer): void => {
        if (opts.maxOutput !== undefined && kept + b.length > opts.maxOutput) b = b.subarray(0, Math.max(0, opts.maxOutput - kept));
        kept += b.length;
        if (b.length) into.push(b);
      };
    };
    child.stdout.on("data", keep(out));
    child.stderr.on("data", keep(err));
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

// How long a feed may write before other work gets a turn.
const FEED_TURN_MS = 5;

/**
 * Run a program and write its standard input as `produce` makes it, chunk by
 * chunk with backpressure: a million lines are never one string. Rejects like
 * `run` when the program fails; stops feeding when it has gone.
 */
export function feed(argv: readonly string[], produce: (write: (chunk: string) => Promise<void>) => Promise<void>, timeoutMs = 300_000): Promise<void> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error("feed: empty argv"));
  const child = spawn(cmd, args, { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString();
  });
  let gone = false;
  const timer = setTimeout(() => child.kill(), timeoutMs);
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (e) => reject(new CommandError(argv, null, e.message)));
    child.on("close", (code, signal) => {
      gone = true;
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new CommandError(argv, code, stderr || (signal ? `killed by ${signal}` : "")));
    });
  });
  child.stdin.on("error", () => undefined); // it exited early: `exited` says why
  let turn = performance.now();
  const write = async (chunk: string): Promise<void> => {
    if (gone) throw new Error("the program has exited");
    if (!child.stdin.write(chunk)) await new Promise<void>((r) => child.stdin.once("drain", r).once("close", r));
    // A program that reads as fast as we write never makes us wait, and the
    // producer's loop would hold the event loop (600 ms of a million's restore):
    // other work gets a turn every few milliseconds.
    else if (performance.now() - turn > FEED_TURN_MS) await new Promise((r) => setImmediate(r));
    else return;
    turn = performance.now();
  };
  const produced = produce(write).finally(() => child.stdin.end());
  return Promise.all([produced, exited]).then(() => undefined);
}
