import type { BanChanges } from "./bans/changes.js";
import type { Config } from "./config.js";
import { CrowdsecAlerts } from "./crowdsec/pusher.js";
import { Hooks, type HooksStatus } from "./hooks/hooks.js";
import type { Logger } from "./log.js";
import { sendReport } from "./report/abuseipdb.js";
import { Reporter, type ReportStatus } from "./report/reporter.js";
import { CROWDSEC_PASSWORD, HOOK_SECRET, readApiKey, readHmacKey, readPassword, REPORT_KEY } from "./secret-file.js";
import type { Store } from "./store/store.js";
import { ReportQueue } from "./store/report-queue.js";

export interface OutboundStatus {
  report?: ReportStatus;
  hooks?: HooksStatus;
}

/**
 * What the daemon tells others of its bans besides the fleet: abuse reports
 * ([report]), hooks ([hooks]) and CrowdSec alerts ([crowdsec]). Each hears
 * the bans from the change feed and does its work later, so the ban path
 * never waits on them. Their secrets are read here, at start: a bad file
 * stops the start (78).
 */
export class Outbound {
  readonly reporter: Reporter | undefined;
  readonly hooks: Hooks | undefined;
  readonly crowdsec: CrowdsecAlerts | undefined;
  private readonly unlisten: (() => void)[] = [];

  constructor(config: Config, store: Store, private readonly changes: BanChanges, log: Logger) {
    const r = config.report;
    if (r) {
      const key = readApiKey(REPORT_KEY, r.key_file);
      this.reporter = new Reporter(new ReportQueue(store.database), { budget: r.daily_budget, send: (x) => sendReport(r.url, key, x) }, log);
    }
    const h = config.hooks;
    const secret = h?.secret_file === undefined ? undefined : readHmacKey(HOOK_SECRET, h.secret_file);
    if (h) this.hooks = new Hooks(h, secret, log);
    const cs = config.crowdsec;
    if (cs) this.crowdsec = new CrowdsecAlerts(cs, readPassword(CROWDSEC_PASSWORD, cs.password_file), log);
  }

  /** Before the firewall bans anything at start: none of the first bans is missed. */
  start(): void {
    this.crowdsec?.start(this.changes);
    if (this.reporter) this.unlisten.push(this.changes.on(this.reporter.onChange));
    if (this.hooks) this.unlisten.push(this.changes.on(this.hooks.onChange));
    // Reports left from before a restart.
    this.reporter?.start();
  }

  status(): OutboundStatus {
    return { ...(this.reporter ? { report: this.reporter.status() } : {}), ...(this.hooks ? { hooks: this.hooks.status() } : {}) };
  }

  async stop(waitMs: number): Promise<void> {
    for (const off of this.unlisten.splice(0)) off();
    await Promise.all([this.reporter?.stop(waitMs), this.hooks?.stop(waitMs), this.crowdsec?.stop()]);
  }
}
