import { hostname } from "node:os";
import { configError } from "../errors.js";
import { parseDuration } from "../policy/duration.js";
import { CLUSTER_SECRET, readHmacKey, readPassword, REDIS_PASSWORD } from "../secret-file.js";
import { duration, whole } from "../validate.js";
import * as z from "../zod.js";
import { parseRedisTarget } from "./redis-target.js";

/**
 * Sources that are never published: a peer's ban (no echo), a ban asked to
 * stay here, and what proves no source address (a bare SYN, an element found
 * in the firewall).
 */
export const NEVER_SHARED = ["peer", "local", "syn", "adopted"] as const;

// Peers refuse a message whose origin is not such a name (message.ts).
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const NAME_WORDS = 'expected 1-64 letters, digits, "_", "-" or "."';
const name = z.string().check(z.regex(NAME, NAME_WORDS));

/** The [cluster] section: present means the daemon shares its bans through Redis. */
export const clusterSchema = z.strictObject({
  // Checked here, parsed again by the link: the config keeps the string (and its password) as written.
  redis: z.string().check(
    z.superRefine((value, ctx) => {
      try {
        parseRedisTarget(value);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
      }
    }),
  ),
  name,
  node: z.optional(name),
  secret_file: z.string().check(z.minLength(1)),
  /** The Redis password (of the URL's user, if it names one), kept out of the config file. */
  password_file: z.optional(z.string().check(z.minLength(1))),
  /** PEM CA certificate(s) that Redis's certificate must chain to, instead of the system's (rediss schemes only). */
  tls_ca_file: z.optional(z.string().check(z.minLength(1))),
  /** A client certificate for Redis's tls-auth-clients, with its key (a secret file). */
  tls_cert_file: z.optional(z.string().check(z.minLength(1))),
  tls_key_file: z.optional(z.string().check(z.minLength(1))),
  share: z._default(z.array(z.string().check(z.minLength(1))), ["trap", "kernel", "cli", "api"]).check(
    z.refine((list) => !list.some((s) => (NEVER_SHARED as readonly string[]).includes(s)), {
      message: `"peer", "local", "syn" and "adopted" bans are never shared (a peer's: no echo; the others prove no source); leave them out`,
    }),
  ),
  peer_min_prefix_v4: z._default(whole(0, 32), 16),
  peer_min_prefix_v6: z._default(whole(0, 128), 32),
  // NTP keeps hosts within a second; minutes allow for one that drifted.
  // At most an hour: a forged message dated ahead refuses its origin's real ones that long.
  clock_skew: z._default(
    duration(false).check(z.refine((ms) => ms >= 1_000 && ms <= 3_600_000, { message: 'expected a duration from "1s" to "1h"' })),
    parseDuration("5m")!,
  ),
  // A catch-up costs seconds of CPU at a million bans; a trimmed stream is rare.
  catchup_interval: z._default(duration(false), parseDuration("15m")!),
}).check(
  z.superRefine((c, ctx) => {
    if ((c.tls_cert_file === undefined) !== (c.tls_key_file === undefined)) {
      ctx.addIssue({ code: "custom", path: ["tls_key_file"], message: "tls_cert_file and tls_key_file go together (a client certificate and its key)" });
    }
    const tls = c.tls_ca_file ?? c.tls_cert_file ?? c.tls_key_file;
    // On a plain connection the files would be read and then never used: say so instead.
    if (tls !== undefined && !/^rediss(-sentinel|-cluster)?:\/\//.test(c.redis)) {
      ctx.addIssue({ code: "custom", path: ["redis"], message: 'tls_ca_file, tls_cert_file and tls_key_file need a TLS URL ("rediss://", "rediss-sentinel://" or "rediss-cluster://")' });
    }
  }),
);

export type ClusterSection = z.infer<typeof clusterSchema>;

/** The section with its defaults filled in. */
export interface ClusterConfig extends ClusterSection {
  node: string;
}

export function clusterConfig(section: ClusterSection, host = hostname()): ClusterConfig {
  return { ...section, node: section.node ?? host };
}

/**
 * The daemon's check before it joins the fleet: the hostname stands in for an
 * unset `node`, and one our peers would refuse as an origin (a long FQDN)
 * would leave this host publishing what every peer throws away. Only the
 * daemon asks: munin, inetd mode and the rest never use the name.
 */
export function checkNodeName(config: ClusterConfig): void {
  if (!NAME.test(config.node)) {
    throw configError(`cluster: the hostname ${JSON.stringify(config.node)} cannot be this node's name (${NAME_WORDS}): set node = "..." in [cluster]`);
  }
}

/**
 * The shared secret, read once at start. Refused when others than its owner
 * may read it: whoever reads it can ban any address on every host.
 */
export function readSecret(file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  return readHmacKey(CLUSTER_SECRET, file, env);
}

/** The Redis password of password_file: the file's content without its final line break. */
export function readRedisPassword(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return readPassword(REDIS_PASSWORD, file, env);
}
