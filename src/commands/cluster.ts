import type { ClusterStatus, ClusterView } from "../cluster/cluster.js";
import type { Config } from "../config.js";
import { askDaemon } from "../control/client.js";
import { configError, unavailableError } from "../errors.js";
import { printable, printableJson } from "../printable.js";

/** One line for `iblock stats`; Redis's error text escaped. */
export function clusterLine(c: ClusterStatus): string {
  const redis = c.redis === "up" ? "Redis up" : `Redis DOWN since ${c.since ?? "start"}${c.error ? ` (${c.error})` : ""}`;
  return printable(`cluster ${c.fleet} as ${c.node}: ${redis}, outbox ${c.outbox}, ${c.applied} applied, ${c.refused} refused, lag ${c.lag_ms ?? "-"} ms`);
}

// Node names, times and errors come from Redis: each line is escaped whole.
function format(v: ClusterView): string {
  const lines = [
    `fleet: ${v.fleet} (this node: ${v.node})`,
    `redis: ${v.redis === "up" ? "reachable" : "UNREACHABLE"}${v.since ? ` since ${v.since}` : ""}${v.error && v.redis === "down" ? ` (${v.error})` : ""}`,
    ...(v.primary === null ? [] : [`primary in use: ${v.primary}`]),
    `outbox: ${v.outbox} message(s) waiting to be published`,
    `stream position: ${v.last_id ?? "none yet"}; lag of the last ban applied: ${v.lag_ms === null ? "-" : `${v.lag_ms} ms`}`,
    `applied from peers: ${v.applied}; refused: ${v.refused}; snapshot catch-ups: ${v.catchups}`,
    `peers:${v.peers.length ? "" : " none seen"}`,
    ...v.peers.map((p) => `  ${p.node}: ${p.recent ? "seen recently" : "not seen recently"}, last seen ${p.seen ?? "-"}, last ban ${p.last_ban ?? "-"}`),
  ];
  return lines.map(printable).join("\n") + "\n";
}

/** `iblock cluster status`: asks the running daemon, which holds the connection to Redis. */
export async function clusterStatus(config: Config, json: boolean): Promise<void> {
  if (!config.cluster) throw configError(`config ${config.source} has no [cluster] section: this host is in no fleet (see docs/fleet.md)`);
  const view = (await askDaemon(config.control_socket, { cmd: "cluster" })) as ClusterView | undefined;
  if (view === undefined) throw unavailableError("the daemon is not running: the fleet's status is the daemon's (start it with iblock run)");
  process.stdout.write(json ? printableJson(view, 2) + "\n" : format(view));
}
