import type { BanQueue } from "../bans/queue.js";
import type { Logger } from "../log.js";
import { prefixKey, type Prefix } from "../net/address.js";
import { storedPrefix } from "../store/store.js";
import type { FeedConfig } from "./config.js";
import { fetchFeed } from "./fetch.js";
import { FeedParser, type FeedContent, type FeedRules } from "./parse.js";
import { feedSource, type FeedRow, type FeedStore } from "./state.js";
import { coverage, suspectChange } from "./growth.js";

// Bans per store transaction and firewall call: a few milliseconds of SQLite
// each, so trap hits never wait long behind a 100,000-entry feed.
const CHUNK = 5_000;

const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface FeedWork {
  feeds: FeedStore;
  queue: BanQueue;
  log: Logger;
  rules: (feed: FeedConfig) => FeedRules;
  /** Aborted when the daemon stops. */
  signal: AbortSignal;
}

/** What one refresh did, for the log, the CLI and the counters. */
export interface RefreshOutcome {
  result: "applied" | "unchanged" | "held" | "failed";
  status: string;
  content?: FeedContent;
  added: number;
  removed: number;
}

const describeRefused = (c: FeedContent): string => {
  const parts = Object.entries(c.refused)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k.replace("_", " ")}`);
  return parts.length ? parts.join(", ") : "none";
};

/**
 * Fetch one feed and apply it as a diff against what it gave last time. A
 * failed fetch changes nothing; a list that shrank by more than half or grew
 * more than tenfold (in entries or in addresses covered) is held back until
 * accepted or unchanged for shrink_hold.
 */
export async function refreshFeed(w: FeedWork, feed: FeedConfig, opts: { accept?: boolean } = {}): Promise<RefreshOutcome> {
  const name = feed.name;
  const row: FeedRow = w.feeds.get(name) ?? {
    name,
    etag: null,
    last_modified: null,
    last_fetch: null,
    last_success: null,
    status: null,
    entries: 0,
    refused: null,
    held_entries: null,
    held_digest: null,
    held_since: null,
  };
  const started = Date.now();
  const parser = new FeedParser(w.rules(feed));
  let fetched: Awaited<ReturnType<typeof fetchFeed>>;
  try {
    fetched = await fetchFeed(feed.url, {
      timeoutMs: feed.timeout,
      maxBytes: feed.max_bytes,
      previous: { etag: row.etag, lastModified: row.last_modified },
      signal: w.signal,
      onChunk: (chunk) => parser.push(chunk),
      onProgress: (bytes) => w.log.info(`feed ${name}: ${(bytes / 1024 / 1024).toFixed(0)} MB read so far`),
    });
  } catch (e) {
    const status = `fetch failed: ${(e as Error).message}; its ${row.entries} ban(s) kept`;
    w.log.warn(`feed ${name}: ${status}`);
    w.feeds.update(name, { last_fetch: started, status });
    // Kept means kept: what lapsed meanwhile (a trap ban of an entry) is banned again.
    const added = await fillGaps(w, feed);
    return { result: "failed", status, added, removed: 0 };
  }
  if (fetched.kind === "unchanged") {
    const added = await fillGaps(w, feed);
    const status = "unchanged since the last fetch";
    w.feeds.update(name, { last_fetch: started, last_success: started, status });
    return { result: "unchanged", status, added, removed: 0 };
  }
  const content = await parser.end();
  const readIn = ((Date.now() - started) / 1000).toFixed(1);
  const n = content.entries.length;
  const refused = JSON.stringify(content.refused);
  const summary = `${n} entries from ${content.lines} line(s) (${content.duplicates} duplicate, ${content.covered} inside a wider entry; refused: ${describeRefused(content)})`;
  if (content.refused.over_limit > 0) w.log.warn(`feed ${name}: more than max_entries (${feed.max_entries}) usable entries; kept the first ${feed.max_entries}, ${content.refused.over_limit} left out`);
  for (const e of content.examples) w.log.info(`feed ${name}: refused ${e}`);

  const before = w.feeds.keys(name);
  const suspect = suspectChange({ entries: row.entries, covers: coverage([...before].map(storedPrefix)) }, { entries: n, covers: coverage(content.entries) });
  if (suspect) {
    const same = row.held_digest === content.digest && row.held_since !== null;
    const heldSince = same && row.held_since !== null ? row.held_since : started;
    const waited = started - heldSince >= feed.shrink_hold;
    if (!(same && (waited || opts.accept))) {
      const status = `held back: the list ${suspect}; run \`iblock feeds accept ${name}\`, or it is applied once unchanged for shrink_hold`;
      // Said once per list: the same shrunk list fetched again is not news.
      if (!same) w.log.warn(`feed ${name}: ${status}`);
      w.feeds.update(name, { last_fetch: started, status, refused, held_entries: n, held_digest: content.digest, held_since: heldSince });
      return { result: "held", status, content, added: 0, removed: 0 };
    }
    w.log.info(`feed ${name}: applying the list that ${suspect} (${opts.accept ? "accepted" : "unchanged for shrink_hold"})`);
  }

  const { added, removed } = await applyDiff(w, feed, content.entries, before);
  const gaps = await fillGaps(w, feed);
  const status = `${summary}; ${added + gaps} banned, ${removed} unbanned`;
  w.log.info(`feed ${name}: ${status} in ${((Date.now() - started) / 1000).toFixed(1)} s (fetched and read in ${readIn} s)`);
  w.feeds.update(name, {
    etag: fetched.validators.etag,
    last_modified: fetched.validators.lastModified,
    last_fetch: started,
    last_success: started,
    status: `ok: ${status}`,
    entries: n,
    refused,
    held_entries: null,
    held_digest: null,
    held_since: null,
  });
  return { result: "applied", status, content, added: added + gaps, removed };
}

/** Entries gone from the feed unbanned, new ones banned, a chunk at a time. */
async function applyDiff(w: FeedWork, feed: FeedConfig, entries: readonly Prefix[], before: ReadonlySet<string>): Promise<{ added: number; removed: number }> {
  const name = feed.name;
  const next = new Set<string>();
  const fresh: Prefix[] = [];
  for (const p of entries) {
    const k = prefixKey(p);
    next.add(k);
    if (!before.has(k)) fresh.push(p);
  }
  const gone = [...before].filter((k) => !next.has(k));
  const reason = `dropped by feed ${name}`;
  let removed = 0;
  for (let i = 0; i < gone.length && !w.signal.aborted; i += CHUNK) {
    const ended = w.feeds.dropEntries(name, gone.slice(i, i + CHUNK), reason);
    await w.queue.imports.removeEnded(ended.map(storedPrefix), reason);
    removed += ended.length;
  }
  const added = await banChunks(w, name, fresh, true);
  return { added, removed };
}

/** Record (when `record`) and ban prefixes for feed `name`; resolves once they are in the firewall. */
async function banChunks(w: FeedWork, name: string, prefixes: readonly Prefix[], record: boolean): Promise<number> {
  let banned = 0;
  for (let i = 0; i < prefixes.length && !w.signal.aborted; i += CHUNK) {
    const chunk = prefixes.slice(i, i + CHUNK);
    if (record) w.feeds.addEntries(name, chunk.map(prefixKey));
    banned += await w.queue.imports.importBans(chunk, { source: feedSource(name), reason: `feed ${name}`, durationMs: Infinity });
    await yieldLoop();
  }
  // importBans resolves once the batch before it is in the firewall: an empty one waits for the last.
  await w.queue.imports.importBans([], { source: feedSource(name), reason: null, durationMs: Infinity });
  return banned;
}

/**
 * The feed's entries with no ban in force (a trap ban of the same address
 * that expired, an unban by hand, a crash between the store's two writes)
 * are banned again. Entries inside a wider ban are skipped by the import.
 */
export async function fillGaps(w: FeedWork, feed: FeedConfig): Promise<number> {
  const gaps = w.feeds.gaps(feed.name, feed.max_entries);
  if (gaps.length === 0) return 0;
  // Checked again: an entry of the last list may be allowed, or ours, since (a SIGHUP).
  const rules = w.rules(feed);
  const usable = gaps.map(storedPrefix).filter((p) => !rules.ours(p) && !rules.allowed(p));
  return usable.length ? banChunks(w, feed.name, usable, false) : 0;
}
