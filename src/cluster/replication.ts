import { ReplyError } from "ioredis";

/**
 * How long a batch waits for a replica to have it (WAIT 1 <ms>). A replica on
 * a working link answers the primary's GETACK, which WAIT sends at once, within
 * a round trip; one that has not within a second is stalled or cut off, and its
 * primary may go on counting it as connected for repl-timeout (60 s by
 * default). The batch stays in the outbox either way: this bounds how long a
 * stalled replica holds up our next batch (one connection, one send at a
 * time), never what a failover can lose.
 */
export const REPLICA_WAIT_MS = 1_000;

/**
 * How many replicas ROLE's reply lists: a master's is ["master", offset,
 * [[ip, port, offset], ...]], and lists only replicas online (past their first
 * sync), the ones WAIT counts. Anything else (a replica's reply, one we cannot
 * read) is none: nothing to wait for.
 */
export function onlineReplicas(role: unknown): number {
  if (!Array.isArray(role) || role[0] !== "master" || !Array.isArray(role[2])) return 0;
  return role[2].length;
}

/** Redis's WAIT on the connection that wrote. */
export interface Waits {
  wait(numreplicas: number, timeoutMs: number): Promise<number>;
}

/**
 * Where our writes so far on `primary` (its connection: WAIT counts this
 * client's writes) stand: "replicated", a replica has them; "no replica", the
 * primary has none online, and no failover can lose what no replica could
 * take over (the primary's own loss is an outage like any other); or
 * "unreplicated", none took them within REPLICA_WAIT_MS. `role`: ROLE's
 * reply, asked with the write in one round trip, so a Redis without replicas
 * is sent no WAIT, which would hold every batch for the full timeout there.
 */
export type Replication = "replicated" | "no replica" | "unreplicated";

export async function replication(primary: Waits, role: unknown): Promise<Replication> {
  if (onlineReplicas(role) === 0) return "no replica";
  return (await primary.wait(1, REPLICA_WAIT_MS)) >= 1 ? "replicated" : "unreplicated";
}

/**
 * Redis refused the command itself (an ACL rule of before +role +wait, a
 * managed Redis that disables them), as opposed to failing this once: the
 * error code is the reply's first word (RESP).
 */
export function refusedCommand(e: unknown): boolean {
  return e instanceof ReplyError && /^(NOPERM|ERR unknown command)/.test((e as Error).message);
}
