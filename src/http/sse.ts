import type { ServerResponse } from "node:http";
import type { BanChange } from "../bans/changes.js";
import { formatPrefix } from "../net/address.js";
import { isoTime } from "../time-text.js";

// Browsers open one stream per tab; more than this is someone holding sockets open.
export const MAX_STREAMS = 64;
// A comment line now and then keeps proxies from closing an idle stream.
const KEEPALIVE_MS = 15_000;
// A client this far behind is dropped rather than buffered for without end.
const MAX_BUFFERED = 1024 * 1024;

/** A ban change as the API and the event stream show it. */
export function changeView(c: BanChange): Record<string, unknown> {
  const at = new Date(c.at).toISOString();
  if (c.kind === "unban") return { kind: "unban", prefix: formatPrefix(c.prefix), reason: c.reason, at };
  return {
    kind: "ban",
    prefix: formatPrefix(c.prefix),
    source: c.source,
    reason: c.reason,
    port: c.port,
    // A peer's ban ends when the peer said: never trusted to be a date.
    expires: isoTime(c.expiresAt),
    at,
    ...(c.renewed ? { renewed: true } : {}),
  };
}

/** Server-sent events of bans and unbans as they happen (/api/events/stream). */
export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor() {
    this.keepalive = setInterval(() => this.write(": keepalive\n\n"), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** False when full: the caller answers 503. */
  attach(res: ServerResponse): boolean {
    if (this.clients.size >= MAX_STREAMS) return false;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n");
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
    return true;
  }

  send(c: BanChange): void {
    if (this.clients.size === 0) return;
    this.write(`event: ${c.kind}\ndata: ${JSON.stringify(changeView(c))}\n\n`);
  }

  private write(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED) res.destroy();
      else res.write(text);
    }
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
