import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { Serial } from "../util/serial.js";

interface Pending {
  fence: string;
  /** The request lists something: it answers one line of JSON on stdout when it succeeds. */
  wantsAnswer: boolean;
  /** Set once the fence came back; the answer line may still be on its way. */
  error?: string;
  fenced: boolean;
  answer?: string;
  resolve(line: string): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

// A line of carets (and tildes) that nft prints under the command it complains about.
const CARETS = /^\s*[\^~]+\s*$/;
// nft that cannot read the ruleset at all (no CAP_NET_ADMIN: "Operation not
// permitted") says so for every line, the fence's too, without naming it.
const NO_CACHE = /^.*cache initialization failed.*\n/m;

/**
 * One long-running `nft -j -i`: a line of commands is one transaction, applied
 * in well under a millisecond, where a new nft process costs 5-10 ms.
 *
 * No `-e` (echo): with it nft costs time proportional to the size of the set
 * on every transaction (4.4 s per ban at 300,000 elements, DESIGN.md). Without
 * it a successful change prints nothing, so every request is followed by a
 * fence: a listing of a set that does not exist, which fails on purpose with
 * an error naming `fence_<seq>`. nft handles lines in order, so stderr up to
 * that name belongs to this request and nothing else; no timing is involved.
 * A request that lists something also gets its one line of JSON on stdout.
 */
export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private readonly requests = new Serial();
  private closed = false;
  private seq = 0;
  private stderr = "";

  constructor(
    private readonly argv: readonly string[],
    /** The table the fence names (it need not exist). */
    private readonly table: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    const [cmd = "nft", ...args] = this.argv;
    const child = spawn(cmd, [...args, "-j", "-i"], { stdio: ["pipe", "pipe", "pipe"] });
    // Output of a session we already gave up on must not settle a newer request.
    const current = (): boolean => this.child === child;
    this.stderr = "";
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on("line", (line) => {
      const p = this.pending;
      if (!current() || !p?.wantsAnswer || !line.startsWith("{")) return;
      p.answer = line;
      this.finish();
    });
    child.stderr.on("data", (b: Buffer) => {
      if (!current()) return;
      this.stderr += b.toString();
      this.readFence();
    });
    child.stdin.on("error", () => undefined);
    const gone = (why: string): void => {
      if (!current()) return;
      this.child = undefined;
      this.fail(new Error(`nft session ended: ${why}`));
    };
    child.on("error", (e) => gone(e.message));
    child.on("exit", (code) => gone(`exit ${code}`));
    this.child = child;
    return child;
  }

  /** Everything on stderr before the fence's own error is the request's. */
  private readFence(): void {
    const p = this.pending;
    if (!p || p.fenced) return;
    const at = this.stderr.indexOf(p.fence);
    if (at === -1) {
      // No fence will come: fail now rather than at the timeout, and start afresh next time.
      if (NO_CACHE.test(this.stderr)) this.abandon(this.stderr.split("\n").filter((l) => l.trim()).slice(0, 2).join(" | "));
      return;
    }
    const lineEnd = this.stderr.indexOf("\n", at);
    if (lineEnd === -1) return;
    // The fence's error message ("Error: ...") is the line before the one naming it.
    const fenceLine = this.stderr.lastIndexOf("\n", at) + 1;
    const messageLine = this.stderr.lastIndexOf("Error:", fenceLine);
    const own = this.stderr.slice(0, messageLine === -1 ? fenceLine : messageLine);
    this.stderr = this.stderr.slice(lineEnd + 1);
    p.error = own
      .split("\n")
      .filter((l) => l.trim() && !CARETS.test(l))
      .slice(0, 3)
      .map((l) => (l.length > 200 ? `${l.slice(0, 200)} ...` : l)) // the command echoed back may hold thousands of elements
      .join(" | ");
    p.fenced = true;
    this.finish();
  }

  private finish(): void {
    // The caret line under the fence may come after it: it is nobody's error.
    this.stderr = this.stderr.replace(/^(\s*[\^~]+\s*\n)+/, "");
    const p = this.pending;
    if (!p?.fenced) return;
    if (p.error) return this.settle(new Error(p.error));
    if (p.wantsAnswer && p.answer === undefined) return; // its JSON line is still on its way
    this.settle(undefined, p.answer ?? "");
  }

  private settle(error: Error | undefined, line?: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(line ?? "");
  }

  private fail(error: Error): void {
    this.settle(error);
  }

  /** Fail the request and drop this nft: what it still prints belongs to no request. */
  private abandon(why: string): void {
    const child = this.child;
    this.child = undefined;
    this.fail(new Error(why));
    child?.kill();
  }

  /**
   * Send one line (commands joined by "; " are one transaction). Resolves with
   * the JSON line of a listing, or "" for a change; rejects with nft's error.
   * Requests run one at a time.
   */
  request(command: string): Promise<string> {
    return this.requests.run(() => this.send(command));
  }

  private send(command: string): Promise<string> {
    // After close() nothing may start a new nft: it would keep the process alive.
    if (this.closed) return Promise.reject(new Error("nft session closed"));
    const child = this.child ?? this.start();
    const fence = `fence_${++this.seq}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`nft session: no answer in ${this.timeoutMs} ms`));
        if (this.child === child) this.child = undefined;
        child.kill();
      }, this.timeoutMs);
      this.pending = { fence, wantsAnswer: /^\s*list\b/.test(command), fenced: false, resolve, reject, timer };
      child.stdin.write(`${command.replace(/\n/g, " ")}\nlist set ${this.table} ${fence}\n`);
    });
  }

  close(): void {
    this.closed = true;
    this.fail(new Error("nft session closed"));
    this.child?.kill();
    this.child = undefined;
  }
}
