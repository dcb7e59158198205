import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { CheckedPage } from "./page.js";
import { snapshotPages, type HashScanner } from "./scan.js";
import type { RedisAccess } from "../redis-target.js";

/** What the reader's thread is started with. */
export interface ReaderData {
  redis: RedisAccess;
  /** The snapshot's hash. */
  key: string;
  /** Entries per HSCAN page. */
  count: number;
  secret: Uint8Array;
  fleet: string;
}

/** What the reader's thread sends: a checked page, the end, or why it stopped. */
export type ReaderReply = { page: CheckedPage } | { end: true } | { error: string };

/** The worker's file beside this one: .cjs in the build, .ts when run from the sources (tests). */
function workerFile(): URL {
  const built = new URL("./snapshot-reader-worker.cjs", import.meta.url);
  return existsSync(fileURLToPath(built)) ? built : new URL("./reader-worker.ts", import.meta.url);
}

/**
 * The fleet's snapshot, checked, a page at a time. Read from Redis and checked
 * on a second thread with a connection of its own, `ahead` pages before the
 * one asked for: at a million entries the reading (RESP), the checks (JSON,
 * HMAC-SHA256, parsing) and the sorting cost more than the store's import,
 * which this thread does meanwhile. Where a worker cannot start or load (its
 * file missing, say), pages are read and checked here, through `fallback`.
 */
export class SnapshotReader {
  private worker: Worker | undefined;
  private readonly arrived: ReaderReply[] = [];
  private waiter: (() => void) | undefined;
  private local: AsyncGenerator<CheckedPage> | undefined;
  /** Something came from the worker: a failure after that is the reading's, not the worker's start. */
  private heard = false;
  private closed = false;
  private readonly closing: Promise<undefined>;
  private whenClosed: (v: undefined) => void = () => undefined;

  constructor(
    private readonly data: ReaderData,
    ahead: number,
    private readonly fallback: HashScanner,
    file: URL = workerFile(),
  ) {
    this.closing = new Promise((r) => (this.whenClosed = r));
    try {
      const worker = new Worker(file, { workerData: data });
      worker.on("message", (m: ReaderReply) => {
        this.heard = true;
        this.arrive(m);
      });
      worker.on("error", (e) => this.failed(`the snapshot reader failed: ${e.message}`));
      worker.on("exit", (code) => this.failed(`the snapshot reader exited (${code})`));
      worker.unref();
      worker.postMessage(ahead);
      this.worker = worker;
    } catch {
      this.readHere();
    }
  }

  private readHere(): void {
    const d = this.data;
    this.local = snapshotPages(this.fallback, d.key, d.count, Buffer.from(d.secret), d.fleet);
    this.waiter?.();
  }

  /** A worker that never got going: read here instead. One that stopped mid-way fails the catch-up (it starts again). */
  private failed(why: string): void {
    if (this.closed || this.local) return;
    if (!this.heard) {
      this.worker = undefined;
      this.readHere();
      return;
    }
    this.arrive({ error: why });
  }

  private arrive(m: ReaderReply): void {
    this.arrived.push(m);
    this.waiter?.();
  }

  /** The next page, or undefined after the last (or once closed); rejects when reading failed. */
  async next(): Promise<CheckedPage | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      if (this.local) {
        const r = await Promise.race([this.local.next(), this.closing]);
        return r === undefined || r.done === true ? undefined : r.value;
      }
      const m = this.arrived[0];
      if (m === undefined) {
        await new Promise<void>((r) => (this.waiter = r));
        continue;
      }
      if ("error" in m) throw new Error(m.error);
      if ("end" in m) return undefined;
      this.arrived.shift();
      // One page taken, one more may be read ahead.
      this.worker?.postMessage(1);
      return m.page;
    }
  }

  /** Stops the reading; a next() waiting for a page resolves with none. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiter?.();
    this.whenClosed(undefined);
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
    // Not awaited: it ends only once a page asked for here is answered (or times out).
    this.local?.return(undefined).catch(() => undefined);
  }
}
