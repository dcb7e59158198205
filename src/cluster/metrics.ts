import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Refusals the applier names itself: too wide, allowed here, over this host's
 * addresses, gateways or resolvers, a copy of a message, a message dated ahead.
 */
export type RefusalReason = "too_wide" | "allowed" | "host" | "replay" | "ahead";

/** What a refusal is about, from its log text: a handful of label values, never the text itself. */
export function refusalReason(why: string): string {
  if (/wrong hmac|no hmac field/.test(why)) return "hmac";
  if (/is this host/.test(why)) return "own_origin";
  if (/bytes \(at most|chars \(at most/.test(why)) return "too_large";
  return "malformed";
}

export interface ClusterGauges {
  redisUp(): boolean;
  outbox(): number;
  /** Origin's ban to our queue for the last stream message applied, ms; null before the first. */
  lagMs(): number | null;
}

/**
 * The fleet's part of /metrics. Kept whether or not [http] is on (counting
 * costs nothing); put in the daemon's registry by `register` when it is.
 * Gauges are read at the scrape from what is in memory, and the outbox's count.
 */
export class ClusterMetrics {
  private readonly appliedTotal = new Counter({ name: "iblock_cluster_peer_bans_applied_total", help: "Peers' bans and unbans applied here since start (catch-ups included)", registers: [] });
  private readonly refusedTotal = new Counter({
    name: "iblock_cluster_peer_messages_refused_total",
    help: "Messages from the fleet refused since start, by reason (hmac, own_origin, too_wide, allowed, host, too_large, replay, ahead, malformed)",
    labelNames: ["reason"],
    registers: [],
  });
  private readonly publishErrors = new Counter({ name: "iblock_cluster_publish_errors_total", help: "Sends of our bans to Redis that failed (they wait in the outbox and are sent again)", registers: [] });
  private readonly failovers = new Counter({
    name: "iblock_cluster_primary_changes_total",
    help: "Reconnects that found Redis's primary at another address than before (a Sentinel failover) since start",
    registers: [],
  });
  private readonly catchUps = new Counter({ name: "iblock_cluster_catchups_total", help: "Catch-ups from the fleet's snapshot since start", registers: [] });
  private readonly gauges: Gauge[];

  constructor(from: ClusterGauges) {
    this.gauges = [
      new Gauge({
        name: "iblock_cluster_redis_up",
        help: "1 when Redis answers, 0 during an outage",
        registers: [],
        collect() {
          this.set(from.redisUp() ? 1 : 0);
        },
      }),
      new Gauge({
        name: "iblock_cluster_outbox_messages",
        help: "Our bans and unbans waiting to be sent to Redis",
        registers: [],
        collect() {
          this.set(from.outbox());
        },
      }),
      new Gauge({
        name: "iblock_cluster_lag_seconds",
        help: "From a peer making a ban to it reaching our queue, for the last message of the stream applied (absent before the first)",
        registers: [],
        collect() {
          this.reset();
          const ms = from.lagMs();
          if (ms !== null) this.set(ms / 1000);
        },
      }),
    ];
    // Seen at 0 from the first scrape, not only after the first event.
    this.appliedTotal.inc(0);
    this.publishErrors.inc(0);
    this.catchUps.inc(0);
    this.failovers.inc(0);
  }

  register(registry: Registry): void {
    for (const m of [this.appliedTotal, this.refusedTotal, this.publishErrors, this.catchUps, this.failovers, ...this.gauges]) registry.registerMetric(m);
  }

  applied(n = 1): void {
    this.appliedTotal.inc(n);
  }

  refused(why: string, reason?: RefusalReason): void {
    this.refusedTotal.inc({ reason: reason ?? refusalReason(why) });
  }

  publishFailed(): void {
    this.publishErrors.inc();
  }

  primaryChanged(): void {
    this.failovers.inc();
  }

  caughtUp(): void {
    this.catchUps.inc();
  }
}
