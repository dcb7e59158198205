import { readFileSync, statSync } from "node:fs";
import { pipeline } from "node:stream";
import { createGzip } from "node:zlib";
import type { Registry } from "prom-client";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { BanChange } from "../bans/changes.js";
import type { BanRequest } from "../bans/ban-request.js";
import type { BanQueue } from "../bans/queue.js";
import type { Config } from "../config.js";
import type { Operations } from "../control/operations.js";
import { configError, IblockError, unavailableError } from "../errors.js";
import type { FeedCounters } from "../feeds/feeds.js";
import type { Firewall } from "../firewall/firewall.js";
import type { Logger } from "../log.js";
import { BanCounts } from "../metrics/counts.js";
import { timedFirewall } from "../metrics/instrument.js";
import { Metrics } from "../metrics/metrics.js";
import type { Policy } from "../policy/policy.js";
import type { Store } from "../store/store.js";
import { closeReads, registerRateLimits } from "./access.js";
import { blocklistJson, blocklistText } from "./blocklist.js";
import { isLoopback, parseListen } from "./config.js";
import { isIP } from "node:net";
import type { HttpContext, PartHealth } from "./context.js";
import { registerDashboard } from "./dashboard.js";
import { ApiQueries } from "./queries.js";
import { registerChangeRoutes } from "./routes-change.js";
import { registerReadRoutes } from "./routes-read.js";
import { EventStream } from "./sse.js";
import { HTTP_READ_TOKEN, HTTP_TOKEN } from "../secret-file.js";
import { readToken } from "./token.js";

// Metrics that sample (the kernel route's report sets) are read this often.
const TICK_MS = 5_000;
// Counts of bans in force are mended from the store this often (in small steps).
const RECOUNT_MS = 15 * 60_000;

/** What the daemon hands over: its parts, and how it is doing. */
export interface HttpDeps {
  store: Store;
  queue: BanQueue;
  ops: Operations;
  policy: Policy;
  log: Logger;
  /** "starting", "running", restore progress. */
  state(): string;
  kernelRoute(): boolean;
  /** Feeds.counters: the feeds' metrics. */
  feeds: Readonly<Record<string, FeedCounters>>;
}

/** How an error becomes a status: the CLI's exit code meanings, in HTTP. */
function statusOf(e: unknown): number {
  const given = (e as { statusCode?: unknown }).statusCode;
  if (typeof given === "number" && given >= 400 && given < 600) return given;
  if (e instanceof IblockError) {
    // 65 bad data and 64 usage: the request; 77 no permission; 69 and 75: not now.
    return ({ 64: 400, 65: 400, 77: 403, 69: 503, 75: 503 } as Record<number, number>)[e.exitCode] ?? 500;
  }
  return 500;
}

/**
 * The daemon's HTTP server (off unless [http] enabled): /metrics, the JSON
 * API, the published blocklist and the dashboard. One object for the daemon:
 * prepare (refuses a bad token file or TLS file before anything is bound),
 * start, stop; and a few calls the daemon makes as things happen.
 */
/** A Host header naming loopback: localhost, 127.x.y.z or [::1], with or without a port. */
function loopbackHost(header: string | undefined): boolean {
  if (header === undefined) return false;
  const host = header.replace(/:\d{1,5}$/, "").replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return host === "localhost" || (isIP(host) !== 0 && isLoopback(host));
}

export class HttpService {
  private readonly counts: BanCounts;
  private readonly metrics: Metrics;
  private readonly stream = new EventStream();
  private readonly timers: NodeJS.Timeout[] = [];
  private app: FastifyInstance | undefined;
  private token: Buffer | undefined;
  private readToken: Buffer | undefined;
  private tls: { cert: Buffer; key: Buffer } | undefined;
  private generation = 0;
  private updated = new Date();
  private readonly startedAt = Date.now().toString(36);
  private lastFirewall: PartHealth = { ok: true, detail: "no update yet" };
  private lastReconcile: PartHealth = { ok: true, detail: "not run yet" };
  private lastDrain = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly config: Config["http"],
    private readonly deps: HttpDeps,
  ) {
    const db = deps.store.database;
    this.counts = new BanCounts(db);
    this.metrics = new Metrics({
      counts: this.counts,
      queueSizes: () => deps.queue.sizes(),
      storeErrors: () => deps.queue.storeErrors,
      feeds: deps.feeds,
    });
    this.unsubscribe = deps.queue.changes.on((c) => this.change(c));
  }

  private change(c: BanChange): void {
    this.counts.apply(c);
    this.metrics.change(c);
    this.stream.send(c);
    this.generation++;
    this.updated = new Date(c.at);
  }

  /** Where other parts put their metrics (the fleet's), served at /metrics with ours. */
  get registry(): Registry {
    return this.metrics.registry;
  }

  /** Before anything is bound: the token and TLS files, then the counts of bans in force. */
  async prepare(): Promise<void> {
    const c = this.config;
    if (c.token_file) this.token = readToken(HTTP_TOKEN, c.token_file);
    if (c.read_token_file) this.readToken = readToken(HTTP_READ_TOKEN, c.read_token_file);
    // A read token that bans is no read token: whoever was given it to read could ban.
    if (this.token && this.readToken?.equals(this.token)) {
      throw configError(`[http] read_token_file (${c.read_token_file}) holds the same token as token_file (${c.token_file}): give it its own (e.g. openssl rand -hex 32)`);
    }
    if (c.tls_cert && c.tls_key) {
      // Others may not read the private key (group-readable is Debian's ssl-cert way, kept).
      const keyMode = (() => {
        try {
          return statSync(c.tls_key).mode;
        } catch {
          return 0; // the read below says why
        }
      })();
      if (keyMode & 0o004) throw configError(`[http] tls_key: ${c.tls_key} has mode ${(keyMode & 0o777).toString(8).padStart(4, "0")}: everyone may read the private key (chmod o-r ${c.tls_key})`);
      try {
        this.tls = { cert: readFileSync(c.tls_cert), key: readFileSync(c.tls_key) };
      } catch (e) {
        throw configError(`[http] cannot read tls_cert or tls_key: ${(e as Error).message}`);
      }
    }
    await this.counts.recount();
  }

  /** The daemon's firewall, its updates timed for /metrics. */
  instrument(fw: Firewall): Firewall {
    return timedFirewall(fw, (op, seconds, ok) => {
      this.metrics.firewallOp(op, seconds, ok);
      if (op !== "killStates") this.lastFirewall = { ok, detail: `last ${op} ${ok ? "ok" : "FAILED"} at ${new Date().toISOString()}` };
    });
  }

  /** A hit on its way to the queue (after the allow list); `count` 0: already counted. */
  hit(req: BanRequest, count: number): void {
    this.metrics.hit(req, count);
  }

  kernelDrain(hits: number, capacity: number, overflowed: boolean): void {
    this.lastDrain = Date.now();
    this.metrics.kernelDrain(hits, capacity, overflowed);
  }

  reconciled(outcome: "intact" | "restored" | "repaired" | "failed", detail = ""): void {
    this.metrics.reconcile(outcome);
    this.lastReconcile = { ok: outcome !== "failed", detail: `${outcome}${detail ? `: ${detail}` : ""} at ${new Date().toISOString()}` };
  }

  private health(): Record<string, PartHealth> {
    const kernel = this.deps.kernelRoute();
    const drainAge = Date.now() - this.lastDrain;
    return {
      daemon: { ok: true, detail: this.deps.state() },
      firewall: this.lastFirewall,
      store: this.deps.queue.storeFailing ? { ok: false, detail: "cannot write the store; bans go on, hits kept in memory" } : { ok: true, detail: "ok" },
      kernel_route: kernel
        ? { ok: drainAge < 10_000, detail: this.lastDrain ? `reports read ${Math.round(drainAge / 1000)} s ago` : "no report read yet" }
        : { ok: true, detail: "off (listeners only)" },
      reconcile: this.lastReconcile,
    };
  }

  private context(): HttpContext {
    return {
      store: this.deps.store,
      queries: new ApiQueries(this.deps.store.database),
      ops: this.deps.ops,
      policy: this.deps.policy,
      counts: this.counts,
      metrics: this.metrics,
      stream: this.stream,
      health: () => this.health(),
      version: () => ({ etag: `"${this.startedAt}-${this.generation}"`, updated: this.updated }),
      token: this.token,
      readToken: this.readToken,
      rateLimit: this.config.rate_limit,
    };
  }

  async start(): Promise<void> {
    const listen = parseListen(this.config.listen);
    if (!listen) throw configError(`[http] listen: ${this.config.listen} is not an address and port`);
    // ajv refuses unknown keys rather than dropping them (fastify's default): a typo is an error.
    const common = { logger: false, bodyLimit: 16 * 1024, requestTimeout: 30_000, return503OnClosing: true, ajv: { customOptions: { removeAdditional: false } } } as const;
    const app = (this.tls ? Fastify({ ...common, https: this.tls }) : Fastify(common)) as unknown as FastifyInstance;
    const ctx = this.context();
    app.addHook("onSend", async (_req, reply) => {
      reply.header("x-content-type-options", "nosniff");
    });
    if (isLoopback(listen.host)) {
      // On loopback only this host's own names reach us: a web page that rebinds
      // its DNS name to 127.0.0.1 sends its own name, and reads nothing.
      app.addHook("onRequest", async (req, reply) => {
        if (!loopbackHost(req.headers.host)) await reply.code(403).send({ error: `Host ${JSON.stringify(req.headers.host ?? "")} is not this host's loopback address` });
      });
    }
    app.setErrorHandler((e, _req, reply) => {
      const status = statusOf(e);
      const message = e instanceof Error ? e.message : String(e);
      // An internal failure (a store error, say) is logged here; the client learns only that it failed.
      const internal = status >= 500 && !(e instanceof IblockError);
      if (internal) this.deps.log.error(`http: ${message}`);
      return reply.code(status).send({ error: internal ? "internal error (logged by the daemon)" : message });
    });
    const limits = await registerRateLimits(app);
    // An unknown path asks for the read token like any read: it spends the reads'
    // budget first (onRequest, before closeReads), or it would try tokens for free.
    app.addHook("onRequest", async (req, reply) => {
      if (req.is404) await limits.reads.call(app, req, reply);
    });
    app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no such route: ${req.method} ${req.url.split("?")[0] ?? ""}` }));
    closeReads(app, { change: this.token, read: this.readToken });
    registerReadRoutes(app, ctx, limits);
    registerChangeRoutes(app, ctx);
    registerDashboard(app, ctx, limits);
    const blocklist = { onRequest: limits.blocklist };
    app.get("/blocklist.txt", blocklist, (req, reply) => this.blocklist(ctx, req, reply, "txt"));
    app.get("/blocklist.json", blocklist, (req, reply) => this.blocklist(ctx, req, reply, "json"));
    try {
      await app.listen({ host: listen.host, port: listen.port });
    } catch (e) {
      throw unavailableError(`[http] cannot listen on ${this.config.listen}: ${(e as Error).message}`);
    }
    this.app = app;
    this.timers.push(setInterval(() => this.metrics.tick(), TICK_MS));
    this.timers.push(setInterval(() => void this.counts.recount().catch((e: Error) => this.deps.log.warn(`counting bans for metrics: ${e.message}`)), RECOUNT_MS));
    for (const t of this.timers) t.unref();
    this.deps.log.info(`http: serving metrics, API, blocklist and dashboard on ${this.tls ? "https" : "http"}://${this.config.listen}/${this.token ? "" : " (ban and unban off: no token_file)"}${this.readToken ? " (reads need a token: read_token_file)" : ""}`);
  }

  /** The published list: ETag from the change count (no read of the bans), 304, gzip when asked. */
  private blocklist(ctx: HttpContext, req: FastifyRequest, reply: FastifyReply, format: "txt" | "json"): FastifyReply {
    const { etag, updated } = ctx.version();
    const tag = `${etag.slice(0, -1)}-${format}"`;
    reply.header("etag", tag).header("cache-control", "no-cache").header("vary", "accept-encoding").header("last-modified", updated.toUTCString());
    const match = req.headers["if-none-match"];
    if (match && match.split(",").some((t) => t.trim() === tag || t.trim() === "*")) return reply.code(304).send();
    const body = format === "txt" ? blocklistText(this.deps.store, { updated, count: this.counts.total }) : blocklistJson(this.deps.store);
    reply.type(format === "txt" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8");
    if (/\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) {
      reply.header("content-encoding", "gzip");
      const gzip = createGzip();
      // A client gone mid-list ends both streams; nothing to report.
      pipeline(body, gzip, () => undefined);
      return reply.send(gzip);
    }
    return reply.send(body);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.unsubscribe();
    this.stream.close();
    await this.app?.close();
  }
}
