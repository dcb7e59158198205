import { spawn } from "node:child_process";

/** One element of a set as `nft list set` prints it: the key text and the seconds left. */
export interface ListedElement {
  readonly key: string;
  /** Seconds until the kernel expires it; undefined when it has no timeout. */
  readonly expiresSec?: number;
}

const UNIT_SEC: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1, ms: 0.001 };

/** "23h48m9s224ms" as seconds. */
function nftDurationSec(text: string): number | undefined {
  let total = 0;
  let matched = "";
  for (const m of text.matchAll(/(\d+)(ms|d|h|m|s)/g)) {
    total += Number(m[1]) * (UNIT_SEC[m[2] ?? ""] ?? 0);
    matched += m[0];
  }
  return matched === text && text ? total : undefined;
}

/** "198.51.100.0/24 timeout 1d expires 23h59m" → its key and the seconds left. */
function parseListedElement(text: string): ListedElement | undefined {
  const words = text.trim().split(/\s+/);
  const key = words[0];
  if (!key) return undefined;
  const at = words.indexOf("expires");
  const expiresSec = at === -1 ? undefined : nftDurationSec(words[at + 1] ?? "");
  return { key, expiresSec };
}

/** Splits `nft list set` text into elements as chunks arrive. */
class ElementParser {
  private rest = "";
  private inElements = false;

  /** The complete elements in `chunk` (and what was left of the last one). */
  push(chunk: string, out: ListedElement[]): void {
    const text = this.rest + chunk;
    const lastNl = text.lastIndexOf("\n");
    if (lastNl === -1) {
      this.rest = text;
      return;
    }
    this.rest = text.slice(lastNl + 1);
    for (let line of text.slice(0, lastNl).split("\n")) {
      if (!this.inElements) {
        const at = line.indexOf("elements = {");
        if (at === -1) continue;
        this.inElements = true;
        line = line.slice(at + "elements = {".length);
      }
      const end = line.indexOf("}");
      for (const item of (end === -1 ? line : line.slice(0, end)).split(",")) {
        const e = parseListedElement(item);
        if (e) out.push(e);
      }
      if (end !== -1) this.inElements = false;
    }
  }
}

/**
 * Stream the elements of one set through `nft -n list set`, parsed as the text
 * arrives and handed on in batches: a million elements are never one string,
 * one JSON document or one array (nft takes ~40 s to list a million; the
 * daemon's share is the parsing, a few milliseconds per batch). While a batch
 * is handled the pipe is paused, so memory stays bounded.
 */
export async function streamSetElements(
  nft: readonly string[],
  table: string,
  set: string,
  each: (batch: ListedElement[]) => Promise<void>,
  // The daemon checks each element against the store: 1,000 at once held its
  // event loop 30-70 ms at a million bans; 250 keep it to about 10.
  batchSize = 250,
): Promise<void> {
  const [cmd = "nft", ...args] = nft;
  const child = spawn(cmd, [...args, "-n", "list", "set", ...table.split(" "), set], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString();
  });
  const parser = new ElementParser();
  let batch: ListedElement[] = [];
  let failed: Error | undefined;
  let handling = Promise.resolve();
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    parser.push(chunk, batch);
    if (batch.length < batchSize || failed) return;
    const full = batch;
    batch = [];
    child.stdout.pause();
    handling = handling
      .then(async () => {
        // A chunk of the pipe holds thousands of elements: handed on batchSize at a
        // time, with a turn of the event loop between (4,000 at once held the
        // daemon 40-100 ms at a million bans).
        for (let i = 0; i < full.length; i += batchSize) {
          if (i > 0) await new Promise((r) => setImmediate(r));
          await each(full.slice(i, i + batchSize));
        }
      })
      .catch((e: unknown) => {
        failed = e instanceof Error ? e : new Error(String(e));
        child.kill();
      })
      // On the next turn: resumed at once, buffered data comes back in this one.
      .finally(() => setImmediate(() => child.stdout.resume()));
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c));
  });
  await handling;
  if (failed) throw failed;
  parser.push("\n", batch);
  if (batch.length) await each(batch);
  if (code !== 0) throw new Error(`nft list set ${set}: ${stderr.trim().split("\n")[0] || `exit ${code ?? "killed"}`}`);
}
