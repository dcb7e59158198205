// The least-privilege Redis user of docs/redis-acl.md: every fleet test's
// daemons connect as it, so a command iblock sends outside the rule fails
// the suite (NOPERM) instead of passing on the default user's +@all.
import { FLEET_NAME } from "./fleet.js";

export const ACL_USER = "iblock";
export const ACL_PASSWORD = "acl-test-password";

/** The rule's words after "ACL SETUSER iblock on >PASSWORD", for the fleet `name`. */
export function aclRule(name: string = FLEET_NAME): string[] {
  return [
    "resetkeys", `~iblock:{${name}}:*`, "resetchannels", "-@all",
    // The connection: ioredis's ready check (INFO, which also tells a master from a replica behind Sentinel), its name, the database.
    "+ping", "+info", "+client|setname", "+select",
    // Publishing: the script and what it calls.
    "+eval", "+xadd", "+hget", "+hset", "+hdel", "+zadd", "+zrem", "+zscore", "+zrangebyscore",
    // ... and whether a replica has it before the outbox forgets it (Sentinel, a replicated Redis).
    "+role", "+wait",
    // Reading: the stream, its first entry and length, the snapshot, the heartbeats.
    "+xread", "+xinfo|stream", "+hscan", "+hgetall",
    // Redis Cluster: where the fleet's slot is, the client's ready check, a node's role after a failover.
    "+cluster|slots", "+cluster|info", "+readwrite",
  ];
}

/** redis-server's command-line options that make the user (each config word an argument of its own). */
export function aclServerArgs(name: string = FLEET_NAME): string[] {
  return ["--user", ACL_USER, "on", `>${ACL_PASSWORD}`, ...aclRule(name)];
}
