import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { quote, verify, type Verified } from "./message.js";

/** A snapshot entry is the signed message as JSON; anything else is garbage. */
function parseDetail(text: string): Record<string, string> | string {
  if (text.length > 8_192) return `${text.length} bytes (at most 8192)`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return `not JSON: ${quote(text)}`;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `not an object: ${quote(text)}`;
  // Used as it is, not copied (a million entries): its own keys are all JSON gave,
  // and verify() reads only those, refusing any it does not know ("__proto__" too).
  const out = v as Record<string, unknown>;
  for (const k of Object.keys(out)) {
    if (typeof out[k] !== "string") return `field ${quote(k)} is not text`;
  }
  return out as Record<string, string>;
}

/** One page of the snapshot checked: per entry its field name and the message, or why it was refused. */
export interface CheckedPage {
  fields: string[];
  results: (Verified | string)[];
}

/** HSCAN's [field, detail, field, detail ...] checked entry by entry: the JSON, the HMAC, each field. */
export function checkPage(secret: Buffer, fleet: string, flat: readonly string[]): CheckedPage {
  const fields: string[] = [];
  const results: (Verified | string)[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    fields.push(flat[i] as string);
    const raw = parseDetail(flat[i + 1] as string);
    if (typeof raw === "string") {
      results.push(raw);
      continue;
    }
    const checked = verify(secret, fleet, raw);
    results.push(checked.ok ? checked.message : checked.why);
  }
  return { fields, results };
}

/** What the worker is sent: a page to check, by number. */
export interface CheckRequest {
  id: number;
  flat: string[];
}

/** The worker's file beside this one: .cjs in the build, .ts when run from the sources (tests). */
function workerFile(): URL {
  const built = new URL("./snapshot-check-worker.cjs", import.meta.url);
  return existsSync(fileURLToPath(built)) ? built : new URL("./snapshot-check-worker.ts", import.meta.url);
}

/**
 * Checks snapshot pages on a second thread while this one records the pages
 * before: at a million entries the checks (JSON, HMAC-SHA256, parsing) cost
 * about as much as the store's import, and a catch-up otherwise does one after
 * the other. Where a worker cannot run, pages are checked here, as before.
 */
export class SnapshotChecker {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { resolve(p: CheckedPage): void; reject(e: Error): void }>();
  private seq = 0;

  constructor(
    private readonly secret: Buffer,
    private readonly fleet: string,
  ) {
    try {
      const worker = new Worker(workerFile(), { workerData: { secret, fleet } });
      worker.on("message", (m: { id: number; page: CheckedPage }) => {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        w?.resolve(m.page);
      });
      worker.on("error", (e) => this.broken(e));
      worker.on("exit", (code) => this.broken(new Error(`the snapshot check worker exited (${code})`)));
      worker.unref();
      this.worker = worker;
    } catch {
      this.worker = undefined;
    }
  }

  /** A worker gone wrong: what it held is checked here, and so is everything after. */
  private broken(e: Error): void {
    if (!this.worker) return;
    this.worker = undefined;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  check(flat: string[]): Promise<CheckedPage> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(checkPage(this.secret, this.fleet, flat));
    const id = ++this.seq;
    return new Promise<CheckedPage>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, flat } satisfies CheckRequest);
    }).catch(() => checkPage(this.secret, this.fleet, flat));
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
