import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { dataError } from "../errors.js";
import { IMPORT_BATCH } from "../control/protocol.js";
import { formatPrefix, parsePrefix, prefixKey, type Prefix } from "../net/address.js";
import { IMPORT_MIN_LENGTH, type Policy } from "../policy/policy.js";

export interface ImportCounts {
  lines: number;
  valid: number;
  malformed: number;
  allowed: number;
  /** Wider than max_manual_v4/v6 without --force, or than IMPORT_MIN_LENGTH at all. */
  tooWide: number;
  /** Covering this host's own addresses, gateways or resolvers. */
  host: number;
  duplicate: number;
  /** The first few refused lines, with why, for the message. */
  examples: string[];
}

/**
 * The address or network a line holds, in the formats `iblock export` and
 * `pfctl -t T -T show` write and that published lists use: one a line,
 * leading blanks, `#` or `;` comments, trailing text after the address.
 */
export function lineEntry(line: string): string | undefined {
  const text = line.replace(/[#;].*$/, "").trim();
  if (!text) return undefined;
  return text.split(/\s+/)[0]?.replace(/^!/, "");
}

/**
 * Read a file (or "-": standard input) and keep what may be banned, widest
 * first, so a network and the addresses inside it become one ban. Every
 * refused line is counted by kind: each line is a manual ban, held to the
 * same rules as `iblock ban` (and `--force` the same way), save that nothing
 * wider than IMPORT_MIN_LENGTH (/8, /19) goes in, forced or not: a foreign
 * list is not read line by line by the person who forces it.
 */
export async function readImport(file: string, policy: Policy, opts: { force?: boolean } = {}): Promise<{ prefixes: Prefix[]; counts: ImportCounts }> {
  const counts: ImportCounts = { lines: 0, valid: 0, malformed: 0, allowed: 0, tooWide: 0, host: 0, duplicate: 0, examples: [] };
  const refuse = (kind: "malformed" | "allowed" | "tooWide" | "host", n: number, line: string, why: string): void => {
    counts[kind]++;
    if (counts.examples.length < 5) counts.examples.push(`line ${n}: ${JSON.stringify(line.slice(0, 80))}: ${why}`);
  };
  const input = file === "-" ? process.stdin : createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    input.once("error", (e: NodeJS.ErrnoException) => reject(dataError(`cannot read ${file}: ${e.message}`)));
    input.once("end", resolve);
  });
  const seen = new Map<string, Prefix>();
  const rules = { force: opts.force, host: policy.hostFacts(), floor: IMPORT_MIN_LENGTH };
  const countedAs = { too_wide: "tooWide", host: "host", allowed: "allowed" } as const;
  let n = 0;
  const lines = createInterface({ input, crlfDelay: Infinity });
  const reading = (async () => {
    for await (const line of lines) {
      n++;
      const entry = lineEntry(line);
      if (entry === undefined) continue;
      counts.lines++;
      let p: Prefix;
      try {
        p = parsePrefix(entry);
      } catch (e) {
        refuse("malformed", n, line, (e as Error).message);
        continue;
      }
      const verdict = policy.manualBan(p, rules);
      if (verdict.refusal) {
        refuse(countedAs[verdict.refusal.kind], n, line, verdict.refusal.why);
        continue;
      }
      const banned = verdict.prefix;
      const key = prefixKey(banned);
      if (seen.has(key)) counts.duplicate++;
      else seen.set(key, banned);
    }
  })();
  await Promise.all([reading, opened]);
  const prefixes = [...seen.values()].sort((a, b) => a.length - b.length);
  counts.valid = prefixes.length;
  return { prefixes, counts };
}

/**
 * Sends `prefixes` (widest first, as readImport gives them) in batches of
 * IMPORT_BATCH and returns how many were imported. `soFar` tells `send` the
 * count so far, for a message when the import stops half way.
 */
export async function sendInBatches(
  prefixes: readonly Prefix[],
  send: (batch: string[], last: boolean, soFar: () => number) => Promise<{ imported: number }>,
): Promise<number> {
  const texts = prefixes.map(formatPrefix);
  let imported = 0;
  const soFar = (): number => imported;
  // Two batches in flight, so the daemon records one while this reads the answer and
  // sends the next; only between batches of one prefix length (none can hold another:
  // widest first must stay in order), and never the last (it waits for all before it).
  let older: Promise<number> | undefined;
  for (let i = 0; i < texts.length; i += IMPORT_BATCH) {
    const end = Math.min(texts.length, i + IMPORT_BATCH);
    const last = end === texts.length;
    const together = older !== undefined && !last && prefixes[i - IMPORT_BATCH]?.length === prefixes[end - 1]?.length;
    if (older && !together) {
      imported += await older;
      older = undefined;
    }
    const next = send(texts.slice(i, end), last, soFar).then((a) => a.imported);
    next.catch(() => undefined); // awaited below; not unhandled if the older one fails first
    if (older) imported += await older;
    older = next;
  }
  if (older) imported += await older;
  return imported;
}
