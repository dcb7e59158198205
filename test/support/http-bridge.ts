// HTTP requests from the test process to a daemon listening on loopback inside
// a test namespace. The namespace's loopback cannot be reached from outside;
// a unix socket can (the file system is shared), so a small forwarder runs in
// the namespace, listening on a socket file and connecting to the daemon.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { gunzipSync } from "node:zlib";
import { tempDir } from "./daemon.js";
import { spawnNodeScript } from "./netns.js";

const BRIDGE_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const [sock, host, port] = process.argv.slice(1);
const srv = net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.on("error", () => u.destroy());
  u.on("error", () => c.destroy());
  c.pipe(u).pipe(c);
});
srv.listen(sock, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, gunzipped when it came gzipped. */
  text: string;
  raw: Buffer;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** A forwarder in `ns` to `host:port` there, and requests through it. Stopped after test `t`. */
export class Bridge {
  private constructor(readonly socketPath: string) {}

  static async open(t: TestContext, ns: string, host: string, port: number): Promise<Bridge> {
    const dir = await tempDir(t, "iblock-bridge-");
    const socketPath = join(dir, "http.sock");
    const proc = spawnNodeScript(ns, BRIDGE_SCRIPT, [socketPath, host, String(port)]);
    t.after(() => proc.stop("SIGTERM", 3000));
    await proc.waitForLine(/^listening$/, 5000);
    return new Bridge(socketPath);
  }

  /** One request; never rejects on a status, only when there is no answer. */
  request(path: string, opts: RequestOptions = {}): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath: this.socketPath, path, method: opts.method ?? "GET", headers: { host: "127.0.0.1", ...opts.headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (b: Buffer) => chunks.push(b));
        res.on("error", reject);
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const text = (res.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            raw,
            json<T>(): T {
              return JSON.parse(text) as T;
            },
          });
        });
      });
      req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${path}: no answer in ${opts.timeoutMs ?? 10_000} ms`)));
      req.on("error", reject);
      req.end(opts.body);
    });
  }

  /** An open event stream: the events as they come, until closed. */
  async events(path = "/api/events/stream", headers: Record<string, string> = {}): Promise<EventReader> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath: this.socketPath, path, headers: { host: "127.0.0.1", accept: "text/event-stream", ...headers } }, (res) => resolve(new EventReader(res, () => req.destroy())));
      req.on("error", reject);
      req.end();
    });
  }
}

/** Server-sent events parsed as they arrive. */
export class EventReader {
  readonly events: { event: string; data: string }[] = [];
  private buf = "";
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly res: IncomingMessage,
    readonly close: () => void,
  ) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      this.buf += chunk;
      let end;
      while ((end = this.buf.indexOf("\n\n")) !== -1) {
        const block = this.buf.slice(0, end);
        this.buf = this.buf.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) this.events.push({ event, data: data.join("\n") });
      }
      for (const w of this.waiters) w();
    });
    res.on("error", () => undefined);
  }

  /** The first event matching, waiting at most `timeoutMs`. */
  waitFor(match: (e: { event: string; data: string }) => boolean, timeoutMs: number): Promise<{ event: string; data: string }> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.find(match);
        if (!found) return false;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(found);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.waiters.add(wake);
      check();
    });
  }
}
