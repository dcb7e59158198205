import type { Cluster } from "./cluster/cluster.js";
import type { Config } from "./config.js";
import type { HttpService } from "./http/server.js";

/**
 * The parts a config may leave out, loaded only when it asks for them: fastify,
 * prom-client and ioredis cost a daemon without [http] or [cluster] about
 * 150 ms of its start and memory it has no use for.
 */
export interface OptionalParts {
  HttpService?: typeof HttpService;
  Cluster?: typeof Cluster;
}

export async function loadOptionalParts(config: Config): Promise<OptionalParts> {
  return {
    HttpService: config.http.enabled ? (await import("./http/server.js")).HttpService : undefined,
    Cluster: config.cluster ? (await import("./cluster/cluster.js")).Cluster : undefined,
  };
}
