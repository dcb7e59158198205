import type { Logger } from "../log.js";
import { parsePrefix, prefixKey, type Prefix } from "../net/address.js";
import { feedKeyFile, readApiKey } from "../secret-file.js";
import type { ImportEntry } from "../store/store.js";
import { storedPrefix } from "../store/store.js";
import { MAX_DURATION_MS } from "../policy/duration.js";
import { readStreamReply, type StreamDecision, type StreamDelta } from "../crowdsec/decisions.js";
import type { FeedWork, RefreshOutcome } from "./apply.js";
import type { FeedConfig } from "./config.js";
import { fetchFeed } from "./fetch.js";
import { judgeEntry, noRefusals, type FeedRules, type RefusalCounts } from "./parse.js";
import { feedSource } from "./state.js";

// As the list feeds: bans per store transaction and firewall call.
const CHUNK = 5_000;
const YIELD_EVERY = 2_000;
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
// Every this many reads the whole list is read again (every 5 min at the default
// 10 s): CrowdSec 1.4 can leave out of a delta a decision written while the
// read before ran, and the whole list has it.
const WHOLE_EVERY = 30;

/** The bouncer key's file of a crowdsec feed, as a secret file (0600, no link; systemd's credential by its name). */
/** A deleted decision's value, parsed by our code; undefined when it is no address (it was never held then). */
function parseOrUndefined(value: string): Prefix | undefined {
  try {
    return parsePrefix(value);
  } catch {
    return undefined;
  }
}

/** A scenario's name from the network, as a ban's reason: printable ASCII only. */
const reasonOf = (scenario: string): string => `crowdsec: ${scenario.replace(/[^\x20-\x7e]/g, "?") || "no scenario"}`;

/**
 * One feed following a CrowdSec Local API's decision stream: the first read
 * (startup=true) gives every decision in force and is applied as a whole,
 * then each read gives what was added and deleted since, and every
 * WHOLE_EVERY reads the whole list again. It keeps the keys
 * it holds in memory (at most max_entries) so a delta costs no store read.
 */
export class CrowdsecStream {
  /** The keys the feed holds; undefined until the first read of this process. */
  private held: Set<string> | undefined;
  private reads = 0;

  constructor(private readonly log: Logger) {}

  async refresh(w: FeedWork, feed: FeedConfig): Promise<RefreshOutcome> {
    const name = feed.name;
    const started = Date.now();
    const startup = this.held === undefined || this.reads % WHOLE_EVERY === 0;
    let delta: StreamDelta;
    try {
      delta = await this.read(w, feed, startup);
    } catch (e) {
      const status = `fetch failed: ${(e as Error).message}; its ${w.feeds.get(name)?.entries ?? 0} ban(s) kept`;
      w.log.warn(`feed ${name}: ${status}`);
      w.feeds.update(name, { last_fetch: started, status });
      return { result: "failed", status, added: 0, removed: 0 };
    }
    this.reads++;
    const held = (this.held ??= w.feeds.keys(name));
    const refused = noRefusals();
    const rules = w.rules(feed);
    const fresh = await this.judged(delta.new, rules, feed.name, refused, started);
    // A decision deleted and made again in the same interval is in both lists: it stays.
    const gone = new Set<string>();
    for (const d of delta.deleted) {
      const p = parseOrUndefined(d.value);
      if (p) gone.add(prefixKey(rules.asBanned(p)));
    }
    if (startup) for (const k of held) gone.add(k); // the whole list: what it no longer has goes
    for (const k of fresh.keys()) gone.delete(k);
    const removed = await this.drop(w, name, [...gone].filter((k) => held.has(k)), held);
    const added = await this.add(w, feed, [...fresh.values()].filter((e) => !held.has(prefixKey(e.prefix))), held, refused);
    const ignored = delta.ignored;
    const refusedText = Object.entries(refused).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k.replace("_", " ")}`).join(", ") || "none";
    const status = `${startup ? "every decision in force" : "changes"}: ${delta.new.length} new, ${delta.deleted.length} deleted; ${added} banned, ${removed} unbanned; refused: ${refusedText}; ignored: ${ignored.scope} of another scope, ${ignored.type} not a ban, ${ignored.malformed} malformed`;
    // Most reads change nothing (CrowdSec 1.4 repeats recent deletions in each delta): not news.
    const refusedCount = Object.values(refused).reduce((a, b) => a + b, 0);
    const news = added + removed + refusedCount + ignored.scope + ignored.type + ignored.malformed;
    if (this.reads === 1 || news > 0) w.log.info(`feed ${name}: ${status}`);
    w.feeds.update(name, { last_fetch: started, last_success: started, status: `ok: ${status}`, entries: held.size, refused: JSON.stringify(refused) });
    return { result: "applied", status, added, removed };
  }

  /** One read of the stream: the whole reply within max_bytes and timeout, or an error and nothing used. */
  private async read(w: FeedWork, feed: FeedConfig, startup: boolean): Promise<StreamDelta> {
    const key = readApiKey(feedKeyFile(feed.name), feed.api_key_file ?? "");
    const url = new URL("v1/decisions/stream", feed.url.endsWith("/") ? feed.url : `${feed.url}/`);
    url.searchParams.set("startup", String(startup));
    const chunks: Buffer[] = [];
    await fetchFeed(url.href, {
      timeoutMs: feed.timeout,
      maxBytes: feed.max_bytes,
      previous: { etag: null, lastModified: null },
      headers: { "x-api-key": key, accept: "application/json" },
      signal: w.signal,
      onChunk: (c) => chunks.push(c),
    });
    return readStreamReply(Buffer.concat(chunks).toString("utf8"));
  }

  /** The new decisions iblock may ban, by key (the longest of two for one key), each checked as a feed's entry. */
  private async judged(decisions: readonly StreamDecision[], rules: FeedRules, name: string, refused: RefusalCounts, now: number): Promise<Map<string, ImportEntry>> {
    const out = new Map<string, ImportEntry>();
    let said = 0;
    for (const [i, d] of decisions.entries()) {
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await nextTurn();
      if (d.leftMs <= 0) continue;
      const judged = judgeEntry(d.value, rules, `decision ${i + 1}`);
      if ("refused" in judged) {
        refused[judged.refused]++;
        if (said++ < 5) this.log.info(`feed ${name}: refused ${judged.why}`);
        continue;
      }
      const key = prefixKey(judged.banned);
      // Go's durations reach 292 years; past ten, ours is permanent (nft refuses such a timeout).
      const expires_at = d.leftMs > MAX_DURATION_MS ? null : Math.floor(now + d.leftMs);
      const before = out.get(key);
      if (!before || (before.expires_at ?? Infinity) < (expires_at ?? Infinity)) out.set(key, { prefix: judged.banned, expires_at, reason: reasonOf(d.scenario) });
    }
    return out;
  }

  /** Entries deleted from the stream: forgotten, and the feed's own bans of them ended. */
  private async drop(w: FeedWork, name: string, keys: readonly string[], held: Set<string>): Promise<number> {
    const reason = `deleted by feed ${name}`;
    let removed = 0;
    for (let i = 0; i < keys.length && !w.signal.aborted; i += CHUNK) {
      const part = keys.slice(i, i + CHUNK);
      const ended = w.feeds.dropEntries(name, part, reason);
      for (const k of part) held.delete(k);
      await w.queue.imports.removeEnded(ended.map(storedPrefix), reason);
      removed += ended.length;
    }
    return removed;
  }

  /** New decisions banned with their own time left, up to max_entries held. */
  private async add(w: FeedWork, feed: FeedConfig, entries: ImportEntry[], held: Set<string>, refused: RefusalCounts): Promise<number> {
    const room = Math.max(0, feed.max_entries - held.size);
    if (entries.length > room) {
      refused.over_limit += entries.length - room;
      this.log.warn(`feed ${feed.name}: more than max_entries (${feed.max_entries}) decisions held; ${entries.length - room} new one(s) left out`);
    }
    const usable = entries.slice(0, room);
    const source = feedSource(feed.name);
    let banned = 0;
    for (let i = 0; i < usable.length && !w.signal.aborted; i += CHUNK) {
      const part = usable.slice(i, i + CHUNK);
      const keys = part.map((e) => prefixKey(e.prefix));
      w.feeds.addEntries(feed.name, keys);
      for (const k of keys) held.add(k);
      banned += await w.queue.imports.importBans(part, { source, reason: `feed ${feed.name}`, durationMs: Infinity });
      await nextTurn();
    }
    await w.queue.imports.importBans([] as Prefix[], { source, reason: null, durationMs: Infinity });
    return banned;
  }
}
