import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fileURLToPath } from "node:url";

/** What the last applied fetch said of the list, for a conditional request. */
export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

export type FetchResult =
  | { kind: "unchanged" }
  | { kind: "body"; validators: Validators; bytes: number };

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  previous: Validators;
  /** Sent with an http(s) request besides ours (a CrowdSec bouncer's X-Api-Key). */
  headers?: Record<string, string>;
  /** The daemon is stopping: give up. */
  signal?: AbortSignal;
  /** Each chunk as it arrives (the parser). */
  onChunk: (chunk: Buffer) => void;
  /** Called every PROGRESS_BYTES, for the log line of a large list. */
  onProgress?: (bytes: number) => void;
}

export const PROGRESS_BYTES = 8 * 1024 * 1024;

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

/**
 * Fetch a feed, handing its body on chunk by chunk: nothing but the parser's
 * bounded state stays in memory. http(s) asks with If-None-Match and
 * If-Modified-Since; file:// compares size and mtime. Throws, with the
 * reason, on a timeout, an error status, or a body over `maxBytes`.
 */
export async function fetchFeed(url: string, opts: FetchOptions): Promise<FetchResult> {
  return url.startsWith("file:") ? readFileFeed(url, opts) : fetchHttp(url, opts);
}

async function consume(body: AsyncIterable<unknown>, opts: FetchOptions, abort?: () => void): Promise<number> {
  let bytes = 0;
  let nextProgress = PROGRESS_BYTES;
  for await (const raw of body) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
    bytes += chunk.length;
    if (bytes > opts.maxBytes) {
      abort?.();
      throw new Error(`larger than max_bytes (${mb(opts.maxBytes)}); nothing of it used`);
    }
    opts.onChunk(chunk);
    if (bytes >= nextProgress) {
      opts.onProgress?.(bytes);
      nextProgress += PROGRESS_BYTES;
    }
  }
  return bytes;
}

async function fetchHttp(url: string, opts: FetchOptions): Promise<FetchResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no complete answer in ${opts.timeoutMs / 1000} s`)), opts.timeoutMs);
  const stop = (): void => controller.abort(new Error("the daemon is stopping"));
  opts.signal?.addEventListener("abort", stop);
  const headers: Record<string, string> = { "user-agent": "iblock (feeds)", accept: "text/plain, application/json;q=0.9, */*;q=0.5", ...opts.headers };
  if (opts.previous.etag) headers["if-none-match"] = opts.previous.etag;
  if (opts.previous.lastModified) headers["if-modified-since"] = opts.previous.lastModified;
  try {
    // A request carrying a key is not followed elsewhere: the key would go along.
    const res = await fetch(url, { headers, signal: controller.signal, redirect: opts.headers ? "error" : "follow" });
    if (res.status === 304) {
      await res.body?.cancel();
      return { kind: "unchanged" };
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
    }
    const length = Number(res.headers.get("content-length") ?? NaN);
    if (length > opts.maxBytes) {
      await res.body.cancel();
      throw new Error(`larger than max_bytes (${mb(length)} > ${mb(opts.maxBytes)}); not read`);
    }
    const bytes = await consume(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), opts, () => controller.abort());
    return { kind: "body", validators: { etag: res.headers.get("etag"), lastModified: res.headers.get("last-modified") }, bytes };
  } catch (e) {
    // The abort's reason says what happened; fetch wraps it or reports "This operation was aborted".
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
    if (reason instanceof Error && !(e instanceof Error && /max_bytes/.test(e.message))) throw reason;
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${(e as Error).message}${cause ? ` (${cause})` : ""}`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", stop);
  }
}

/** A local file: "unchanged" when its size and mtime are what they were. */
async function readFileFeed(url: string, opts: FetchOptions): Promise<FetchResult> {
  const path = fileURLToPath(url);
  const st = await stat(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  const tag = `${st.size}-${st.mtimeMs}`;
  if (opts.previous.etag === tag) return { kind: "unchanged" };
  if (st.size > opts.maxBytes) throw new Error(`larger than max_bytes (${mb(st.size)} > ${mb(opts.maxBytes)}); not read`);
  const stream = createReadStream(path);
  try {
    const bytes = await consume(stream, opts, () => stream.destroy());
    return { kind: "body", validators: { etag: tag, lastModified: null }, bytes };
  } finally {
    stream.destroy();
  }
}
