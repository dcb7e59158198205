// A small HTTP server in a test namespace that stands in for a service iblock
// tells of bans (AbuseIPDB, a webhook receiver): it answers every request at
// once and prints it whole, one JSON line each (method, path, headers, body),
// so a test pins the exact requests. Loopback only: nothing else can reach it.
import type { LineProcess } from "./proc.js";
import type { Topology } from "./netns.js";

const SCRIPT = String.raw`
"use strict";
const http = require("node:http");
const [port] = process.argv.slice(1);
const srv = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    console.log(JSON.stringify({ method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    res.statusCode = req.url.startsWith("/api/") ? 200 : 204;
    res.setHeader("content-type", "application/json");
    res.end(req.url.startsWith("/api/") ? '{"data":{"abuseConfidenceScore":0}}' : "");
  });
});
srv.listen(Number(port), "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export class RequestRecorder {
  private constructor(
    readonly proc: LineProcess,
    readonly port: number,
  ) {}

  /** Listen on 127.0.0.1:`port` in the host namespace (the daemon's loopback); stopped with the topology. */
  static async start(topo: Topology, port: number): Promise<RequestRecorder> {
    const proc = topo.spawnNode(topo.host, SCRIPT, [String(port)]);
    await proc.waitForLine(/^listening$/, 10_000);
    return new RequestRecorder(proc, port);
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Every request so far to `path`. */
  requests(path: string): RecordedRequest[] {
    return this.proc.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as RecordedRequest).filter((r) => r.path === path);
  }
}
