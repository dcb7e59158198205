import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from "fastify";
import type { HttpContext } from "./context.js";
import { addressParam } from "./routes-read.js";
import { bearerToken, tokenMatches } from "./token.js";

// A ban request is a few dozen bytes; anything near this is not one.
const BODY_LIMIT = 4096;

const banBody = {
  type: "object",
  required: ["address"],
  additionalProperties: false,
  properties: {
    address: { type: "string", minLength: 1, maxLength: 64 },
    reason: { type: "string", maxLength: 200 },
    time: { type: "string", minLength: 1, maxLength: 16 },
    force: { type: "boolean" },
  },
} as const;

/** 401 without a token, 403 with a wrong one, or when no token_file was given (changes are off). */
function authorize(ctx: HttpContext) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!ctx.token) {
      await reply.code(403).send({ error: "changes over HTTP are off: set token_file in [http] to allow ban and unban with a bearer token" });
      return;
    }
    const given = bearerToken(req.headers.authorization);
    if (given === undefined) {
      await reply.code(401).header("www-authenticate", 'Bearer realm="iblock"').send({ error: 'this route needs the token of token_file: "Authorization: Bearer TOKEN"' });
      return;
    }
    if (!tokenMatches(ctx.token, given)) await reply.code(403).send({ error: "wrong token" });
  };
}

/** POST /api/bans and DELETE /api/bans/ADDR: `iblock ban` and `unban`, the same code and messages. */
export function registerChangeRoutes(app: FastifyInstance, ctx: HttpContext): void {
  // One budget per client address for every changing route: rate_limit a minute,
  // bans and unbans together (one limiter, so one store, shared by the routes),
  // spent before the token is looked at: guessing it is slow too.
  const limit = app.rateLimit({ max: ctx.rateLimit, timeWindow: 60_000 });
  // Before the body is read (without the token nothing of it is), after the rate limit (onRequest).
  const check = authorize(ctx);
  const preParsing = async (req: FastifyRequest, reply: FastifyReply, payload: RequestPayload): Promise<RequestPayload> => {
    await check(req, reply);
    return payload;
  };
  // JSON only: fastify would also take text/plain.
  app.removeContentTypeParser("text/plain");

  app.post("/api/bans", { bodyLimit: BODY_LIMIT, schema: { body: banBody }, config: { access: "change" }, onRequest: limit, preParsing }, async (req) => {
    const body = req.body as { address: string; reason?: string; time?: string; force?: boolean };
    // A refused ban (allowed, too wide, this host's) carries its 403 with it (BanRefused).
    return { banned: await ctx.ops.ban(body.address, body.reason, body.time, { force: body.force, api: true }) };
  });

  app.delete("/api/bans/*", { config: { access: "change" }, onRequest: limit, preParsing }, async (req) => ctx.ops.unban(addressParam(req.params)));
}
