import { spawn, type ChildProcess } from "node:child_process";
import { fstatSync } from "node:fs";
import { printable } from "./printable.js";

export type Level = "info" | "warning" | "error";

// syslog priority = facility * 8 + severity; facility daemon is 3.
const SEVERITY: Record<Level, number> = { error: 3, warning: 4, info: 6 };
const DAEMON = 3;

export interface SyslogOptions {
  /** Path of the syslog socket; default: logger's own (/dev/log). */
  socket?: string;
  tag?: string;
}

/**
 * True when stderr is a journald stream (systemd's JOURNAL_STREAM names its
 * device and inode): then each line starts with its syslog priority, `<3>` to
 * `<6>`, which journald strips and keeps, so `journalctl -p warning` works.
 * Compared with stderr itself, as sd-daemon(3) says, so a child that inherited
 * the variable but writes elsewhere prints no stray prefixes.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

// A logger(1) that exits (no syslog socket, say) is started again at most this often.
const SYSLOG_RETRY_MS = 60_000;

/**
 * Human lines on stderr (journald and rc.d keep them) and, when asked, the same
 * lines to syslog through one long-lived logger(1) process: a process per line
 * would cost more than the ban it reports during a scan storm. A syslog that
 * cannot be reached is said once on our own output (never on stdout or stderr in
 * inetd mode: there they are the scanner's socket) and tried again once a minute,
 * not once a line.
 */
export class Logger {
  private syslog: ChildProcess | undefined;
  private syslogOptions: SyslogOptions | undefined;
  /** When logger(1) may be started again after it failed. */
  private retryAt = 0;
  /** Set while syslog is known to be unreachable, so the outage is reported once. */
  private down = false;

  private readonly write: (line: string, level: Level) => void;

  /** By default lines go to stderr, with priorities when it is the journal. */
  constructor(write?: (line: string) => void) {
    if (write) this.write = write;
    else {
      const journal = stderrIsJournal();
      this.write = (line, level) => process.stderr.write(`${journal ? `<${SEVERITY[level]}>` : ""}${line}\n`);
    }
  }

  enableSyslog(opts: SyslogOptions = {}): void {
    this.syslogOptions = opts;
    this.startSyslog();
  }

  private startSyslog(): void {
    const opts = this.syslogOptions;
    if (!opts) return;
    // --socket-errors=on: exit on a missing socket instead of dropping every line in silence.
    const args = ["--socket-errors=on", "--prio-prefix", "-t", opts.tag ?? "iblock"];
    if (opts.socket) args.push("-u", opts.socket);
    const startedAt = Date.now();
    const child = spawn("logger", args, { stdio: ["pipe", "ignore", "pipe"] });
    const said: Buffer[] = [];
    child.stderr?.on("data", (b: Buffer) => said.push(b));
    let failed = false;
    const fail = (why: string): void => {
      if (failed) return;
      failed = true;
      if (this.syslog === child) this.syslog = undefined;
      if (!this.syslogOptions) return; // closing
      this.retryAt = Date.now() + SYSLOG_RETRY_MS;
      // A logger that worked for a while and then failed is a new outage.
      if (!this.down || Date.now() - startedAt >= SYSLOG_RETRY_MS) {
        this.write(`iblock: warning: syslog is unreachable (${printable(why)}); lines go to stderr only, trying again every ${SYSLOG_RETRY_MS / 1000} s`, "warning");
      }
      this.down = true;
    };
    child.on("error", (e) => fail(`cannot run logger: ${e.message}`));
    child.stdin?.on("error", () => undefined);
    child.on("close", (code, signal) => {
      const text = Buffer.concat(said).toString().trim().split("\n").slice(0, 3).join(" | ");
      fail(text || `logger exited with ${code ?? signal ?? "nothing"}`);
    });
    this.syslog = child;
  }

  /**
   * One call, one line: what a message quotes from peers, feeds, Redis or the
   * store is escaped (printable), line breaks too, so no text can start a line
   * of its own (a forged "iblock: ..." line, or a "<0>" priority for journald).
   * Our own multi-line text (a stack trace) is one line with \n in it.
   */
  log(level: Level, message: string): void {
    const text = printable(message);
    this.write(level === "info" ? `iblock: ${text}` : `iblock: ${level}: ${text}`, level);
    if (this.syslogOptions && !this.syslog && Date.now() >= this.retryAt) this.startSyslog();
    this.syslog?.stdin?.write(`<${DAEMON * 8 + SEVERITY[level]}>${text}\n`);
  }

  info(message: string): void {
    this.log("info", message);
  }
  warn(message: string): void {
    this.log("warning", message);
  }
  error(message: string): void {
    this.log("error", message);
  }

  /** Let logger(1) flush and exit. */
  async close(): Promise<void> {
    const child = this.syslog;
    this.syslogOptions = undefined;
    this.syslog = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill();
        resolve();
      }, 2000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
    });
  }
}
