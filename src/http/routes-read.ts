import type { FastifyInstance } from "fastify";
import { banView } from "../control/operations.js";
import { parsePrefix } from "../net/address.js";
import { parseDuration } from "../policy/duration.js";
import type { ReadLimits } from "./access.js";
import { BadRequest } from "./bad-request.js";
import { intParam, parseSince, type HttpContext } from "./context.js";
import { openapi } from "./openapi.js";

type Query = Record<string, string | undefined>;

/**
 * Everything /api/stats and the dashboard show: the counts as `iblock stats`
 * has them (Store.stats, the per-minute history), the rest from memory.
 */
export function stats(ctx: HttpContext, now = Date.now()): Record<string, unknown> {
  const activeBySource: Record<string, number> = {};
  for (const [key, n] of ctx.counts.bySource()) {
    const source = key.split("|")[1] ?? "";
    activeBySource[source] = (activeBySource[source] ?? 0) + n;
  }
  return {
    ...ctx.store.stats(now),
    top_networks: ctx.counts.topNetworks(10),
    active_by_source: activeBySource,
    health: ctx.health(),
  };
}

/** The read-only API: nothing here changes anything, and nothing reads more than a page. */
export function registerReadRoutes(app: FastifyInstance, ctx: HttpContext, limits: ReadLimits): void {
  const description = openapi(ctx.readToken !== undefined);
  const read = { onRequest: limits.reads };
  app.get("/api/openapi.json", read, () => description);

  // Prometheus scrapes without a token: counts, no addresses.
  app.get("/metrics", { config: { access: "open" } }, async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });

  app.get("/api/stats", read, () => stats(ctx));

  app.get("/api/history", read, (req) => {
    const q = req.query as Query;
    const hours = intParam(q.hours, "hours", 24, 1, 720);
    return { minutes: ctx.store.activity(Date.now() - hours * 3_600_000).minutes };
  });

  app.get("/api/bans", read, (req) => {
    const q = req.query as Query;
    let within;
    if (q.prefix !== undefined) {
      try {
        within = parsePrefix(q.prefix);
      } catch (e) {
        throw new BadRequest(`bad prefix: ${(e as Error).message}`);
      }
    }
    if (q.source !== undefined && !/^[a-z]{1,32}(:[\w.-]{1,64})?$/.test(q.source)) {
      throw new BadRequest(`bad source ${JSON.stringify(q.source)}: expected e.g. trap, kernel, cli, api, aggregate, import, feed`);
    }
    const page = ctx.queries.bans({
      after: intParam(q.after, "after", 0, 0, Number.MAX_SAFE_INTEGER),
      limit: intParam(q.limit, "limit", 100, 1, 1000),
      source: q.source,
      since: q.since === undefined ? undefined : parseSince(q.since, parseDuration),
      within,
    });
    return { items: page.rows.map(banView), next: page.next };
  });

  // The address may be a CIDR with its slash as is: "/api/bans/198.51.100.0/24".
  app.get("/api/bans/*", read, (req) => ctx.ops.show(addressParam(req.params)));

  app.get("/api/events", read, (req) => {
    const q = req.query as Query;
    if (q.kind !== undefined && !["hit", "ban", "unban"].includes(q.kind)) throw new BadRequest(`bad kind ${JSON.stringify(q.kind)}: expected hit, ban or unban`);
    const page = ctx.queries.events({
      before: intParam(q.before, "before", Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER),
      limit: intParam(q.limit, "limit", 100, 1, 1000),
      kind: q.kind,
    });
    return { items: page.rows.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), next: page.next };
  });

  app.get("/api/events/stream", read, (req, reply) => {
    reply.hijack();
    if (!ctx.stream.attach(reply.raw)) {
      reply.raw.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "too many event streams open; try again later" }));
    }
  });
}

/** The wildcard's text: an address, or a network with its slash. */
export function addressParam(params: unknown): string {
  const text = (params as Record<string, string | undefined>)["*"] ?? "";
  if (text.length === 0 || text.length > 64) throw new BadRequest("expected an address or CIDR after /api/bans/, e.g. /api/bans/203.0.113.7");
  return text;
}
