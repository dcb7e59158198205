import { Counter, Gauge, type Registry } from "prom-client";
import type { CrowdsecAlerts } from "./pusher.js";

/** `[crowdsec]`'s part of /metrics, read from the sender's counts at the scrape. */
export function registerCrowdsecMetrics(registry: Registry, alerts: CrowdsecAlerts): void {
  const registers = [registry];
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  counter("iblock_crowdsec_alerts_sent_total", "Trap bans sent to the CrowdSec Local API as alerts since start", () => alerts.counts.sent);
  counter("iblock_crowdsec_send_failures_total", "Requests to the CrowdSec Local API that failed since start (their alerts stay queued)", () => alerts.counts.failed);
  counter("iblock_crowdsec_alerts_dropped_total", "Alerts dropped since start because max_queue were waiting", () => alerts.counts.dropped);
  new Gauge({
    name: "iblock_crowdsec_alerts_queued",
    help: "Alerts waiting to be sent to the CrowdSec Local API",
    registers,
    collect() {
      this.set(alerts.queued);
    },
  });
}
