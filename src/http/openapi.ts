// The API's description, served at /api/openapi.json. A test requests every
// path listed here and checks the answers against it, and checks that the
// server has no /api route missing from it; another, with read_token_file,
// that exactly the routes marked with `security` need a token.
const json = (schema: object, description = "OK"): object => ({ description, content: { "application/json": { schema } } });
const error = (description: string): object => json({ $ref: "#/components/schemas/Error" }, description);
const page = (items: string): object => ({
  type: "object",
  required: ["items", "next"],
  properties: { items: { type: "array", items: { $ref: `#/components/schemas/${items}` } }, next: { type: ["integer", "null"], description: "cursor of the next page; null at the end" } },
});
const limit = { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } };
const addr = { name: "addr", in: "path", required: true, schema: { type: "string" }, description: "an address or CIDR (its slash as is or as %2F)" };
const bearer = [{ bearer: [] }];
const tooMany = { "429": error("too many requests from this address this minute (Retry-After)") };

/** The description; `readsClosed` (read_token_file set): every route but /metrics needs a token. */
export function openapi(readsClosed: boolean): object {
  // What a read route adds to its answers and needs, with reads closed.
  const read = readsClosed ? { security: bearer } : {};
  const readAnswers = readsClosed ? { "401": error("no token"), "403": error("wrong token") } : {};
  return {
    openapi: "3.1.0",
    info: {
      title: "iblock",
      version: "1",
      description: `Bans, events and metrics of an iblock daemon. Changes need the bearer token of [http] token_file.${readsClosed ? " Reads need the token of read_token_file or of token_file." : ""}`,
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: { type: "object", required: ["error"], properties: { error: { type: "string" } } },
        Ban: {
          type: "object",
          required: ["prefix", "first_seen", "last_seen", "hits", "port", "source", "reason", "expires"],
          properties: {
            prefix: { type: "string" },
            first_seen: { type: "string", format: "date-time" },
            last_seen: { type: "string", format: "date-time" },
            hits: { type: "integer" },
            port: { type: ["integer", "null"] },
            source: { type: "string" },
            reason: { type: ["string", "null"] },
            expires: { type: ["string", "null"], format: "date-time", description: "null: permanent" },
          },
        },
        Event: {
          type: "object",
          required: ["id", "at", "prefix", "kind", "port", "count", "detail"],
          properties: {
            id: { type: "integer" },
            at: { type: "string", format: "date-time" },
            prefix: { type: "string" },
            kind: { type: "string", enum: ["hit", "ban", "unban"] },
            port: { type: ["integer", "null"] },
            count: { type: "integer" },
            detail: { type: ["string", "null"] },
          },
        },
        Stats: {
          type: "object",
          required: ["active", "bans_last_24h", "hits_last_24h", "top_ports", "top_networks", "active_by_source", "health"],
          properties: {
            active: { type: "integer" },
            bans_last_24h: { type: "integer" },
            hits_last_24h: { type: "integer" },
            top_ports: { type: "array", items: { type: "object", properties: { port: { type: "integer" }, hits: { type: "integer" } } } },
            top_networks: { type: "array", items: { type: "object", properties: { network: { type: "string" }, bans: { type: "integer" } } } },
            active_by_source: { type: "object", additionalProperties: { type: "integer" } },
            health: { type: "object", additionalProperties: { type: "object", properties: { ok: { type: "boolean" }, detail: { type: "string" } } } },
          },
        },
        History: {
          type: "object",
          required: ["minutes"],
          properties: {
            minutes: {
              type: "array",
              items: { type: "object", properties: { minute: { type: "integer" }, bans: { type: "integer" }, unbans: { type: "integer" }, hits: { type: "integer" }, active: { type: "integer" } } },
            },
          },
        },
        BanRequest: {
          type: "object",
          required: ["address"],
          additionalProperties: false,
          properties: {
            address: { type: "string", maxLength: 64 },
            reason: { type: "string", maxLength: 200 },
            time: { type: "string", maxLength: 16, description: '"90s", "15m", "24h", "7d" or "permanent"' },
            force: {
              type: "boolean",
              description: "ban a network wider than max_manual_v4 / max_manual_v6 (as `iblock ban --force`); never one covering the host's own addresses, gateways or resolvers",
            },
          },
        },
      },
    },
    paths: {
      "/api/stats": { get: { summary: "Bans in force, the last 24 h, top ports and networks, health", ...read, responses: { "200": json({ $ref: "#/components/schemas/Stats" }), ...readAnswers, ...tooMany } } },
      "/api/history": {
        get: {
          summary: "Bans, unbans and hits per minute, and bans in force at each minute's end",
          ...read,
          parameters: [{ name: "hours", in: "query", schema: { type: "integer", minimum: 1, maximum: 720, default: 24 } }],
          responses: { "200": json({ $ref: "#/components/schemas/History" }), "400": error("bad parameter"), ...readAnswers, ...tooMany },
        },
      },
      "/api/bans": {
        get: {
          summary: "Bans in force, a page at a time",
          ...read,
          parameters: [
            limit,
            { name: "after", in: "query", schema: { type: "integer", minimum: 0 }, description: "the previous page's next" },
            { name: "prefix", in: "query", schema: { type: "string" }, description: "only bans inside this network, in the order of their text (pages still follow `next`)" },
            { name: "source", in: "query", schema: { type: "string" }, description: "trap, kernel, syn, inetd, cli, api, local, aggregate, import, feed, peer, adopted" },
            { name: "since", in: "query", schema: { type: "string" }, description: 'banned since: "1h" ago or a date' },
          ],
          responses: { "200": json(page("Ban")), "400": error("bad parameter"), ...readAnswers, ...tooMany },
        },
        post: {
          summary: "Ban an address or network, as `iblock ban`",
          security: bearer,
          requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/BanRequest" } } } },
          responses: {
            "200": json({ type: "object", properties: { banned: { type: "string" } } }),
            "400": error("malformed request or address"),
            "401": error("no token"),
            "403": error("wrong token, no token_file, or a refused ban: an allowed address, wider than max_manual_v4/v6 without force, or covering this host's own addresses, gateways or resolvers"),
            "413": error("body too large"),
            "429": error("too many requests"),
            "503": error("the firewall did not take it yet (recorded, retried)"),
          },
        },
      },
      "/api/bans/{addr}": {
        get: {
          summary: "The history of an address or network, as `iblock show`",
          ...read,
          parameters: [addr],
          responses: { "200": json({ type: "object" }), "400": error("malformed address"), ...readAnswers, ...tooMany },
        },
        delete: {
          summary: "Lift a ban, as `iblock unban`",
          security: bearer,
          parameters: [addr],
          responses: {
            "200": json({ type: "object", properties: { prefix: { type: "string" }, was_banned: { type: "boolean" } } }),
            "400": error("malformed address, or one inside a wider ban"),
            "401": error("no token"),
            "403": error("wrong token or no token_file"),
            "429": error("too many requests"),
          },
        },
      },
      "/api/events": {
        get: {
          summary: "Events (hits, bans, unbans), newest first, a page at a time",
          ...read,
          parameters: [
            limit,
            { name: "before", in: "query", schema: { type: "integer" }, description: "the previous page's next" },
            { name: "kind", in: "query", schema: { type: "string", enum: ["hit", "ban", "unban"] } },
          ],
          responses: { "200": json(page("Event")), "400": error("bad parameter"), ...readAnswers, ...tooMany },
        },
      },
      "/api/events/stream": {
        get: {
          summary: "Server-sent events: `ban` and `unban` as they happen",
          ...read,
          responses: {
            "200": { description: "an event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
            "503": error("too many streams open"),
            ...readAnswers,
            ...tooMany,
          },
        },
      },
      "/api/openapi.json": { get: { summary: "This description", ...read, responses: { "200": json({ type: "object" }), ...readAnswers, ...tooMany } } },
      "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "text format 0.0.4", content: { "text/plain": { schema: { type: "string" } } } } } } },
      "/blocklist.txt": {
        get: {
          summary: "The bans in force, one address or network a line, after a comment header; ETag, gzip",
          ...read,
          responses: {
            "200": { description: "the list", content: { "text/plain": { schema: { type: "string" } } } },
            "304": { description: "not modified (If-None-Match)" },
            ...readAnswers,
            ...tooMany,
          },
        },
      },
      "/blocklist.json": {
        get: {
          summary: "The bans in force as records (iblock export --format json); ETag, gzip",
          ...read,
          responses: { "200": json({ type: "array", items: { $ref: "#/components/schemas/Ban" } }), "304": { description: "not modified (If-None-Match)" }, ...readAnswers, ...tooMany },
        },
      },
    },
  };
}
