import type { BanChange, BanChanges } from "../bans/changes.js";
import { isProvenHit } from "../bans/proven-sources.js";
import type { Logger } from "../log.js";
import { Backoff } from "../util/backoff.js";
import { SendQueue } from "../util/send-queue.js";
import { alertOf, SCENARIO, type TrapBan } from "./alerts.js";
import type { CrowdsecConfig } from "./config.js";

// Alerts gathered before a send, and per request: a storm becomes a few requests.
const GATHER_MS = 1_000;
const BATCH = 100;
const REQUEST_TIMEOUT_MS = 10_000;
// CrowdSec refuses a login whose user agent is not NAME/VERSION.
const USER_AGENT = "iblock/1";
// A JWT is asked for again this long before CrowdSec says it expires.
const TOKEN_MARGIN_MS = 60_000;
// What we read of a reply: a token or an error, never a hostile server's gigabytes.
const MAX_REPLY = 64 * 1024;


export interface CrowdsecCounts {
  sent: number;
  /** Requests that failed (the alerts stay queued and go again). */
  failed: number;
  /** Alerts dropped because the queue was full. */
  dropped: number;
}

async function readSmall(res: Response): Promise<string> {
  if (!res.body) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Uint8Array).length;
    if (size > MAX_REPLY) {
      await res.body.cancel();
      throw new Error(`a reply larger than ${MAX_REPLY} bytes`);
    }
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks).toString("utf8");
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    what: string,
  ) {
    super(`${what}: HTTP ${status}`);
  }
}

/**
 * `[crowdsec]`: each ban a trap hit proved goes to the Local API as an alert
 * with its decision. The ban path only appends to a bounded queue; one
 * request at a time sends up to BATCH alerts, retried with backoff. Bans that
 * no hit here proved (a feed's, CrowdSec's own, a peer's, a person's) are
 * never sent.
 */
export class CrowdsecAlerts {
  private readonly queue: SendQueue<TrapBan>;
  private token: { value: string; until: number } | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly stopper = new AbortController();

  constructor(
    private readonly config: CrowdsecConfig,
    private readonly password: string,
    private readonly log: Logger,
  ) {
    // Alerts stay queued until the Local API takes them (attempts: Infinity); only a full queue drops.
    this.queue = new SendQueue({ name: "[crowdsec]", send: (batch) => this.post(batch), gatherMs: GATHER_MS, batchMax: BATCH, queueMax: config.max_queue, attempts: Infinity, backoff: new Backoff(1_000, 60_000), log });
  }

  get queued(): number {
    return this.queue.queued;
  }

  get counts(): CrowdsecCounts {
    const c = this.queue.counts;
    return { sent: c.sent, failed: c.failures, dropped: c.dropped };
  }

  start(changes: BanChanges): void {
    this.unsubscribe = changes.on((c) => this.note(c));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.stopper.abort();
    const left = await this.queue.stop(0);
    if (left) this.log.warn(`[crowdsec] stopping with ${left} alert(s) not sent; they are not kept`);
  }

  private note(c: BanChange): void {
    if (c.kind !== "ban" || c.renewed || !isProvenHit(c.source)) return;
    this.queue.push({ prefix: c.prefix, port: c.port, at: c.at, expiresAt: c.expiresAt });
  }

  private async post(batch: readonly TrapBan[]): Promise<void> {
    const now = Date.now();
    const body = JSON.stringify(batch.map((b) => alertOf(b, now)));
    try {
      await this.request("v1/alerts", body, await this.jwt());
    } catch (e) {
      // A token the Local API no longer takes (it restarted with a new secret): one new login.
      if (!(e instanceof HttpError && e.status === 401)) throw e;
      this.token = undefined;
      await this.request("v1/alerts", body, await this.jwt());
    }
  }

  private async jwt(): Promise<string> {
    if (this.token && this.token.until > Date.now()) return this.token.value;
    const login = JSON.stringify({ machine_id: this.config.login, password: this.password, scenarios: [SCENARIO] });
    const reply = await this.request("v1/watchers/login", login);
    let parsed: unknown;
    try {
      parsed = JSON.parse(reply);
    } catch {
      throw new Error("the login's reply is not JSON");
    }
    const { token, expire } = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { token?: unknown; expire?: unknown };
    if (typeof token !== "string" || !/^[\w.-]{1,4096}$/.test(token)) throw new Error("the login's reply holds no token");
    const until = typeof expire === "string" ? Date.parse(expire) : NaN;
    this.token = { value: token, until: (Number.isFinite(until) ? until : Date.now() + 3_600_000) - TOKEN_MARGIN_MS };
    return token;
  }

  private async request(path: string, body: string, jwt?: string): Promise<string> {
    const url = new URL(path, this.config.url.endsWith("/") ? this.config.url : `${this.config.url}/`);
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": USER_AGENT };
    if (jwt) headers.authorization = `Bearer ${jwt}`;
    const signal = AbortSignal.any([this.stopper.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
    // No redirect: the password and the token go to the configured address only.
    const res = await fetch(url, { method: "POST", headers, body, signal, redirect: "error" });
    if (!res.ok) {
      await res.body?.cancel();
      throw new HttpError(res.status, `POST /${path}`);
    }
    return readSmall(res);
  }
}
