import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { snapshotPages, type CheckedPage, type HashScanner } from "./snapshot-check.js";

/** What the reader's thread is started with. */
export interface ReaderData {
  url: string;
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
  return existsSync(fileURLToPath(built)) ? built : new URL("./snapshot-reader-worker.ts", import.meta.url);
}

/**
 * The fleet's snapshot, checked, a page at a time. Read from Redis and checked
 * on a second thread with a connection of its own, `ahead` pages before the
 * one asked for: at a million entries the reading (RESP), the checks (JSON,
 * HMAC-SHA256, parsing) and the sorting cost about as much as the store's
 * import, which this thread does meanwhile. Where a worker cannot start,
 * pages are read and checked here, through `fallback`.
 */
export class SnapshotReader {
  private worker: Worker | undefined;
  private readonly arrived: ReaderReply[] = [];
  private waiter: (() => void) | undefined;
  private local: AsyncGenerator<CheckedPage> | undefined;

  constructor(data: ReaderData, ahead: number, fallback: HashScanner) {
    try {
      const worker = new Worker(workerFile(), { workerData: data });
      worker.on("message", (m: ReaderReply) => this.arrive(m));
      worker.on("error", (e) => this.arrive({ error: `the snapshot reader failed: ${e.message}` }));
      worker.on("exit", (code) => this.arrive({ error: `the snapshot reader exited (${code})` }));
      worker.unref();
      worker.postMessage(ahead);
      this.worker = worker;
    } catch {
      this.local = snapshotPages(fallback, data.key, data.count, Buffer.from(data.secret), data.fleet);
    }
  }

  private arrive(m: ReaderReply): void {
    this.arrived.push(m);
    this.waiter?.();
  }

  /** The next page, or undefined after the last; rejects when reading failed. */
  async next(): Promise<CheckedPage | undefined> {
    if (this.local) {
      const r = await this.local.next();
      return r.done === true ? undefined : r.value;
    }
    for (;;) {
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

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
    await this.local?.return(undefined);
  }
}
