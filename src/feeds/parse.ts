import { createHash, type Hash } from "node:crypto";
import { formatPrefix, parsePrefix, prefixKey, widen, type Prefix } from "../net/address.js";
import { PrefixMatcher } from "../policy/prefix-matcher.js";

/** Why a line of a feed was not used. */
export const REFUSAL_KINDS = [
  "malformed",
  "too_wide",
  "loopback",
  "link_local",
  "multicast",
  "unspecified",
  "ours",
  "allowed",
  "over_limit",
] as const;
export type RefusalKind = (typeof REFUSAL_KINDS)[number];
export type RefusalCounts = Record<RefusalKind, number>;

export const noRefusals = (): RefusalCounts => Object.fromEntries(REFUSAL_KINDS.map((k) => [k, 0])) as RefusalCounts;

// The daemon reads feeds beside trap hits: whole lists are checked this many
// entries at a time (a few milliseconds), not 200,000 in one go (1.2 s).
const YIELD_EVERY = 2_000;
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

// No address line is longer: what is longer is refused, and never held whole in memory.
export const MAX_LINE = 1024;

/** A line that is an address or CIDR and nothing else (no comment, no blank). */
const PLAIN = /^[0-9A-Fa-f.:/]+$/;

/** Networks no published list has a reason to ban, by kind. */
const SPECIAL: [RefusalKind, PrefixMatcher][] = [
  ["loopback", ["127.0.0.0/8", "::1/128"]],
  ["link_local", ["169.254.0.0/16", "fe80::/10"]],
  ["multicast", ["224.0.0.0/4", "ff00::/8"]],
  ["unspecified", ["0.0.0.0/8", "255.255.255.255/32", "::/128"]],
].map(([kind, nets]) => [kind as RefusalKind, new PrefixMatcher((nets as string[]).map(parsePrefix))]);

export interface FeedRules {
  maxEntries: number;
  minPrefixV4: number;
  minPrefixV6: number;
  /** This host's own addresses, gateways and resolvers: a feed must never cut us off from them. */
  ours: (p: Prefix) => boolean;
  /** The daemon's allow list. */
  allowed: (p: Prefix) => boolean;
  /** What a ban of `p` is recorded as (a plain address widened like a trap hit). */
  asBanned: (p: Prefix) => Prefix;
}

export interface FeedContent {
  /** Usable entries, in the feed's order, at most maxEntries, none inside another. */
  entries: Prefix[];
  refused: RefusalCounts;
  duplicates: number;
  /** Entries dropped because a wider entry of the same feed holds them. */
  covered: number;
  /** Lines that held an entry (not blank, not only a comment). */
  lines: number;
  bytes: number;
  /** sha256 of the bytes: "the list stayed the same" for shrink_hold. */
  digest: string;
  /** The first few refused lines, with why, for the log. */
  examples: string[];
}

/**
 * A feed read as it arrives, chunk by chunk: one address or CIDR a line with
 * `#` and `;` comments and trailing text (Spamhaus's `; SBL123`), or iblock's
 * own JSON (an array of strings, or `{ "bans": [{ "prefix": ... }] }`). Memory
 * holds at most one line of MAX_LINE bytes and maxEntries entries, whatever
 * arrives: a 10 MB line or binary garbage costs nothing but a count.
 */
export class FeedParser {
  private readonly refused = noRefusals();
  private readonly keys = new Set<string>();
  private readonly entries: Prefix[] = [];
  private readonly examples: string[] = [];
  private readonly hash: Hash = createHash("sha256");
  private duplicates = 0;
  private lines = 0;
  private bytes = 0;
  private lineNo = 0;
  /** The current line so far (at most MAX_LINE bytes, one character each). */
  private partial = "";
  private overlong = false;
  /** Undecided until the first byte that is not blank; JSON is gathered whole (within max_bytes). */
  private format: "unknown" | "lines" | "json" = "unknown";
  private json: Buffer[] = [];

  constructor(private readonly rules: FeedRules) {}

  push(data: Buffer): void {
    this.hash.update(data);
    // A UTF-8 byte order mark (lists saved by some editors) is not part of the first line.
    const chunk = this.bytes === 0 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? data.subarray(3) : data;
    this.bytes += data.length;
    if (this.format === "unknown") {
      const first = chunk.findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
      if (first !== -1) this.format = chunk[first] === 0x5b || chunk[first] === 0x7b ? "json" : "lines";
    }
    if (this.format === "json") {
      this.json.push(chunk);
      return;
    }
    // latin1: every byte is one character, so garbage stays garbage and fails
    // the parse. One string a chunk: its lines are slices of it, not copies.
    const text = chunk.toString("latin1");
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      const end = nl === -1 ? text.length : nl;
      this.take(text, start, end);
      if (nl === -1) return;
      this.endLine();
      start = nl + 1;
    }
  }

  private take(text: string, start: number, end: number): void {
    if (this.overlong || start === end) return;
    if (this.partial.length + end - start > MAX_LINE) {
      this.overlong = true;
      this.partial = "";
      return;
    }
    this.partial += text.slice(start, end);
  }

  private endLine(): void {
    this.lineNo++;
    if (this.overlong) {
      this.overlong = false;
      this.lines++;
      this.refuse("malformed", `line ${this.lineNo}: longer than ${MAX_LINE} bytes`);
      return;
    }
    const text = this.partial;
    this.partial = "";
    // Most lines are an address alone: no comment or blank to strip.
    const entry = PLAIN.test(text) ? text : (text.replace(/[#;].*$/s, "").trim().split(/\s+/)[0] ?? "");
    if (entry === "") return;
    this.lines++;
    this.consider(entry, `line ${this.lineNo}`);
  }

  private refuse(kind: RefusalKind, why: string): void {
    this.refused[kind]++;
    if (this.examples.length < 5) this.examples.push(why);
  }

  private consider(text: string, where: string): void {
    const judged = judgeEntry(text, this.rules, where);
    if ("refused" in judged) {
      this.refuse(judged.refused, judged.why);
      return;
    }
    const banned = judged.banned;
    const key = prefixKey(banned);
    if (this.keys.has(key)) {
      this.duplicates++;
      return;
    }
    if (this.entries.length >= this.rules.maxEntries) {
      this.refused.over_limit++;
      return;
    }
    this.keys.add(key);
    this.entries.push(banned);
  }

  private async readJson(): Promise<void> {
    const where = "JSON";
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(this.json).toString("utf8"));
    } catch (e) {
      this.refuse("malformed", `${where}: not valid JSON (${(e as Error).message.slice(0, 120)})`);
      return;
    }
    this.json = [];
    const items: unknown[] = Array.isArray(doc)
      ? doc
      : typeof doc === "object" && doc !== null && Array.isArray((doc as { bans?: unknown }).bans)
        ? ((doc as { bans: unknown[] }).bans)
        : [];
    if (items.length === 0 && !Array.isArray(doc)) this.refuse("malformed", `${where}: expected an array of addresses or an object with a "bans" array`);
    for (let i = 0; i < items.length; i++) {
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await nextTurn();
      const item = items[i];
      const text = typeof item === "string" ? item : typeof item === "object" && item !== null ? (item as { prefix?: unknown }).prefix : undefined;
      this.lines++;
      if (typeof text !== "string" || text.length > MAX_LINE) this.refuse("malformed", `${where} item ${i + 1}: expected an address string or an object with a "prefix"`);
      else this.consider(text, `${where} item ${i + 1}`);
    }
  }

  /** Everything read: the usable entries, none inside another, and what was refused. */
  async end(): Promise<FeedContent> {
    if (this.format === "json") await this.readJson();
    else if (this.partial.length > 0 || this.overlong) this.endLine();
    const { kept, covered } = await dropCovered(this.entries, this.keys);
    return {
      entries: kept,
      refused: { ...this.refused },
      duplicates: this.duplicates,
      covered,
      lines: this.lines,
      bytes: this.bytes,
      digest: this.hash.digest("hex"),
      examples: [...this.examples],
    };
  }
}

/**
 * One entry of a feed checked as a person's ban is: parsed by our code, not
 * too wide, not a special network, not this host's or allowed. What would be
 * banned (a plain address widened like a trap hit), or why not.
 */
export function judgeEntry(text: string, rules: FeedRules, where: string): { banned: Prefix } | { refused: RefusalKind; why: string } {
  let p: Prefix;
  try {
    p = parsePrefix(text);
  } catch (e) {
    return { refused: "malformed", why: `${where}: ${(e as Error).message.slice(0, 160)}` };
  }
  const min = p.family === 4 ? rules.minPrefixV4 : rules.minPrefixV6;
  if (p.length < min) return { refused: "too_wide", why: `${where}: ${formatPrefix(p)} is wider than /${min}` };
  for (const [kind, nets] of SPECIAL) {
    if (nets.match(p)) return { refused: kind, why: `${where}: ${formatPrefix(p)} is ${kind.replace("_", "-")}` };
  }
  const banned = rules.asBanned(p);
  if (rules.ours(banned)) return { refused: "ours", why: `${where}: ${formatPrefix(banned)} holds an address, gateway or resolver of this host` };
  if (rules.allowed(p)) return { refused: "allowed", why: `${where}: ${formatPrefix(p)} is in the allow list` };
  return { banned };
}

/**
 * An entry inside a wider entry of the same feed is dropped: the wider ban
 * holds it, and nftables' interval set refuses overlapping intervals.
 */
async function dropCovered(entries: readonly Prefix[], keys: ReadonlySet<string>): Promise<{ kept: Prefix[]; covered: number }> {
  const lengths = { 4: new Set<number>(), 6: new Set<number>() };
  for (const p of entries) lengths[p.family].add(p.length);
  const kept: Prefix[] = [];
  let covered = 0;
  for (const [i, p] of entries.entries()) {
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await nextTurn();
    let inside = false;
    for (const len of lengths[p.family]) {
      if (len < p.length && keys.has(prefixKey(widen(p, len)))) {
        inside = true;
        break;
      }
    }
    if (inside) covered++;
    else kept.push(p);
  }
  return { kept, covered };
}
