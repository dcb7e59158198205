import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from "fastify";
import { bearerToken, tokenMatches } from "./token.js";

/**
 * Who may call a route, declared with the route (`config: { access }`):
 * "open" to everyone (/metrics, the dashboard's files), "change" checked by
 * the route itself against token_file; anything else, undeclared routes and
 * unknown paths included, is "read": with read_token_file set, it needs that
 * token or token_file's.
 */
export type Access = "open" | "read" | "change";

declare module "fastify" {
  interface FastifyContextConfig {
    access?: Access;
  }
}

/** sha256 digests of the two tokens; undefined: that file is not set. */
export interface Tokens {
  change: Buffer | undefined;
  read: Buffer | undefined;
}

// The dashboard reads the API 4 times a minute, and a script paging the bans
// 1000 at a time still gets 300,000 a minute; at 5 a second one address can
// neither keep the store busy nor try tokens at any useful pace.
export const READS_PER_MINUTE = 300;
// A consumer of the blocklist polls it every minute at the most (feeds' shortest
// interval), with its ETag; a whole list at a million bans takes seconds to
// write, so one address gets it a few times a minute, not in a loop.
export const BLOCKLISTS_PER_MINUTE = 10;

export interface ReadLimits {
  /** One budget per client for the API's reads (listings, history, the stream). */
  reads: ReturnType<FastifyInstance["rateLimit"]>;
  /** One budget per client for /blocklist.txt and .json together. */
  blocklist: ReturnType<FastifyInstance["rateLimit"]>;
}

/** The rate limiter plugin, and the read budgets (per client address, a minute each). */
export async function registerRateLimits(app: FastifyInstance): Promise<ReadLimits> {
  await app.register(rateLimit, { global: false });
  return {
    reads: app.rateLimit({ max: READS_PER_MINUTE, timeWindow: 60_000 }),
    blocklist: app.rateLimit({ max: BLOCKLISTS_PER_MINUTE, timeWindow: 60_000 }),
  };
}

/**
 * With a read token, every "read" route needs it or the change token: 401
 * without a bearer token, 403 with a wrong one. Checked before any body is
 * read, after a route's rate limit (onRequest), so a guess spends budget.
 */
export function closeReads(app: FastifyInstance, tokens: Tokens): void {
  const read = tokens.read;
  if (!read) return;
  app.addHook("preParsing", async (req: FastifyRequest, reply: FastifyReply, payload: RequestPayload): Promise<RequestPayload> => {
    if ((req.routeOptions.config?.access ?? "read") !== "read") return payload;
    const given = bearerToken(req.headers.authorization);
    if (given === undefined) {
      await reply
        .code(401)
        .header("www-authenticate", 'Bearer realm="iblock"')
        .send({ error: 'this route needs the token of read_token_file (or of token_file): "Authorization: Bearer TOKEN"' });
    } else if (!tokenMatches(read, given) && !(tokens.change && tokenMatches(tokens.change, given))) {
      await reply.code(403).send({ error: "wrong token" });
    }
    return payload;
  });
}
