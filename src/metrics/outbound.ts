import { Counter, Gauge, type Registry } from "prom-client";
import { registerCrowdsecMetrics } from "../crowdsec/metrics.js";
import type { HooksStatus } from "../hooks/hooks.js";
import type { Outbound } from "../outbound.js";

/**
 * The abuse reports', hooks' and CrowdSec alerts' part of /metrics, read at
 * the scrape from their counts (kept whether or not [http] is on).
 */
export function registerOutboundMetrics(registry: Registry, outbound: Outbound): void {
  if (outbound.crowdsec) registerCrowdsecMetrics(registry, outbound.crowdsec);
  const registers = [registry];
  const r = outbound.reporter;
  if (r) {
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    };
    counter("iblock_report_sent_total", "Abuse reports AbuseIPDB took since start", () => r.counts.sent);
    counter("iblock_report_failures_total", "Abuse reports dropped since start: refused (4xx) or failed every attempt", () => r.counts.failed);
    counter("iblock_report_skipped_recent_total", "Trap bans not reported since start: the address was reported or queued in the last 15 minutes", () => r.counts.recent);
    counter("iblock_report_dropped_total", "Trap bans not reported since start: the queue was full, or the report was a day old when its turn came", () => r.counts.dropped);
    counter("iblock_report_rate_limited_total", "429 answers from AbuseIPDB since start", () => r.counts.rateLimited);
    gauge("iblock_report_queued", "Abuse reports waiting in the store", () => r.status().queued);
    gauge("iblock_report_sent_24h", "Abuse reports sent in the last 24 hours (the daily budget's count)", () => r.status().sent_24h);
  }
  const h = outbound.hooks;
  if (h) {
    const labelNames = ["hook"];
    type Read = (s: HooksStatus[string]) => number;
    const counter = (name: string, help: string, read: Read): void => {
      new Counter({ name, help, labelNames, registers, collect() { this.reset(); for (const [hook, s] of Object.entries(h.status())) this.inc({ hook }, read(s)); } });
    };
    counter("iblock_hook_calls_total", "Hook calls since start (programs run, webhook requests), retries included", (s) => s.calls);
    counter("iblock_hook_failures_total", "Hook calls that failed since start", (s) => s.failures);
    counter("iblock_hook_events_dropped_total", "Ban and unban events a hook never got: the queue was full, or every attempt failed", (s) => s.dropped);
    new Gauge({
      name: "iblock_hook_queued_events",
      help: "Events waiting for their hook",
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [hook, s] of Object.entries(h.status())) this.set({ hook }, s.queued);
      },
    });
  }
}
