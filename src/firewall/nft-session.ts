import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";

interface Pending {
  resolve(line: string): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One long-running `nft -e -j -i`: it applies a line of commands as one
 * transaction in well under a millisecond, where a new nft process costs
 * 5-10 ms. Each request gets exactly one answer: a line of JSON on stdout
 * (the listing, or with -e the echo of what was applied) or an error on
 * stderr. A request that gets neither in time restarts the session.
 */
export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly argv: readonly string[] = ["nft"],
    private readonly timeoutMs = 5000,
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    const [cmd = "nft", ...args] = this.argv;
    const child = spawn(cmd, [...args, "-e", "-j", "-i"], { stdio: ["pipe", "pipe", "pipe"] });
    // Answers from a session we already gave up on must not settle a newer request.
    const current = (): boolean => this.child === child;
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on("line", (line) => {
      // Only JSON answers count: a command that prints text would otherwise
      // shift every later answer by a line (such a request times out instead).
      if (current() && line.startsWith("{")) this.settle(undefined, line);
    });
    let err = "";
    child.stderr.on("data", (b: Buffer) => {
      // nft prints an error over a few lines (message, command, caret): gather them briefly.
      if (!err) {
        setTimeout(() => {
          if (current()) this.settle(new Error(err.trim().split("\n").slice(0, 3).join(" | ")));
          err = "";
        }, 20);
      }
      err += b.toString();
    });
    child.stdin.on("error", () => undefined);
    const gone = (why: string): void => {
      if (!current()) return;
      this.child = undefined;
      this.settle(new Error(`nft session ended: ${why}`));
    };
    child.on("error", (e) => gone(e.message));
    child.on("exit", (code) => gone(`exit ${code}`));
    this.child = child;
    return child;
  }

  private settle(error: Error | undefined, line?: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(line ?? "");
  }

  /**
   * Send one line (commands joined by "; " are one transaction) and get its
   * one line of JSON. Requests run one at a time.
   */
  request(command: string): Promise<string> {
    const next = this.queue.then(() => this.send(command));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private send(command: string): Promise<string> {
    // After close() nothing may start a new nft: it would keep the process alive.
    if (this.closed) return Promise.reject(new Error("nft session closed"));
    const child = this.child ?? this.start();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(new Error(`nft session: no answer in ${this.timeoutMs} ms`));
        if (this.child === child) this.child = undefined;
        child.kill();
      }, this.timeoutMs);
      this.pending = { resolve, reject, timer };
      child.stdin.write(command.replace(/\n/g, " ") + "\n");
    });
  }

  close(): void {
    this.closed = true;
    this.settle(new Error("nft session closed"));
    this.child?.kill();
    this.child = undefined;
  }
}
