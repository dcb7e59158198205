// A small HTTP server in a test namespace serving the feed files a test writes:
// an ETag per file (its size and mtime), 304 on If-None-Match, and by a side
// file NAME.status a failure instead: an HTTP status code, or "hang" (accept
// and never answer). One log line per request, so tests can count them.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Topology } from "./netns.js";
import { ADDR } from "./netns.js";
import type { LineProcess } from "./proc.js";

const SCRIPT = String.raw`
"use strict";
const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
const [dir, host, port] = process.argv.slice(1);
const say = (req, what) => console.log(req.method + " /" + path.basename(req.url) + " " + what);
const srv = http.createServer((req, res) => {
  const file = path.join(dir, path.basename(decodeURIComponent(new URL(req.url, "http://x").pathname)));
  let mode = "";
  try { mode = fs.readFileSync(file + ".status", "utf8").trim(); } catch {}
  if (mode === "hang") return say(req, "hang");
  if (mode) { res.statusCode = Number(mode); res.end("failing on purpose\n"); return say(req, mode); }
  let st;
  try { st = fs.statSync(file); } catch { res.statusCode = 404; res.end(); return say(req, "404"); }
  const etag = '"' + st.size + "-" + st.mtimeMs + '"';
  if (req.headers["if-none-match"] === etag) { res.statusCode = 304; res.end(); return say(req, "304"); }
  res.setHeader("etag", etag);
  res.setHeader("content-type", "text/plain");
  res.setHeader("content-length", String(st.size));
  fs.createReadStream(file).pipe(res);
  say(req, "200");
});
srv.listen(Number(port), host, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

export const FEED_PORT = 8081;

export class FeedServer {
  private constructor(
    readonly proc: LineProcess,
    readonly dir: string,
  ) {}

  /** Serve `dir` from the scanner namespace, on ADDR.otherV4 (never in a feed). */
  static async start(topo: Topology, dir: string): Promise<FeedServer> {
    const proc = topo.spawnNode(topo.scanner, SCRIPT, [dir, ADDR.otherV4, String(FEED_PORT)]);
    await proc.waitForLine(/^listening$/, 10_000);
    return new FeedServer(proc, dir);
  }

  url(name: string): string {
    return `http://${ADDR.otherV4}:${FEED_PORT}/${name}`;
  }

  write(name: string, text: string | Buffer): Promise<void> {
    return writeFile(join(this.dir, name), text);
  }

  /** From now on answer NAME with this status, or never ("hang"); "" serves the file again. */
  async fail(name: string, mode: "hang" | number | ""): Promise<void> {
    await writeFile(join(this.dir, `${name}.status`), String(mode));
  }

  /** Requests for NAME answered with `what` ("200", "304", "hang", "500") so far. */
  count(name: string, what: string): number {
    return this.proc.lines.filter((l) => l === `GET /${name} ${what}`).length;
  }
}

/** "198.18.0.0" + n, for n below 131,072 (198.18.0.0/15). */
export function benchAddress(n: number): string {
  if (!(n >= 0 && n < 131_072)) throw new Error(`${n} is outside 198.18.0.0/15`);
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/** `[[feed]]` tables for a config file (appended after its top-level keys). */
export function feedTables(feeds: readonly Record<string, string | number>[]): string {
  return feeds.map((f) => `\n[[feed]]\n${Object.entries(f).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n")}\n`).join("");
}
