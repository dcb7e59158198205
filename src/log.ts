import { spawn, type ChildProcess } from "node:child_process";

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
 * Human lines on stderr (journald and rc.d keep them) and, when asked, the same
 * lines to syslog through one long-lived logger(1) process: a process per line
 * would cost more than the ban it reports during a scan storm.
 */
export class Logger {
  private syslog: ChildProcess | undefined;
  private syslogOptions: SyslogOptions | undefined;

  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l + "\n")) {}

  enableSyslog(opts: SyslogOptions = {}): void {
    this.syslogOptions = opts;
    this.startSyslog();
  }

  private startSyslog(): void {
    const opts = this.syslogOptions;
    if (!opts) return;
    const args = ["--prio-prefix", "-t", opts.tag ?? "iblock"];
    if (opts.socket) args.push("-u", opts.socket);
    const child = spawn("logger", args, { stdio: ["pipe", "ignore", "inherit"] });
    child.on("error", (e) => {
      this.write(`iblock: warning: syslog disabled, cannot run logger: ${e.message}`);
      this.syslogOptions = undefined;
    });
    child.stdin?.on("error", () => undefined);
    child.on("exit", () => {
      if (this.syslog === child) this.syslog = undefined;
    });
    this.syslog = child;
  }

  log(level: Level, message: string): void {
    this.write(level === "info" ? `iblock: ${message}` : `iblock: ${level}: ${message}`);
    if (this.syslogOptions && !this.syslog) this.startSyslog();
    this.syslog?.stdin?.write(`<${DAEMON * 8 + SEVERITY[level]}>${message.replace(/\n/g, " ")}\n`);
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
