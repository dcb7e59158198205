import { isAbsolute } from "node:path";
import { parseDuration } from "../policy/duration.js";
import { parsed, whole } from "../validate.js";
import { isLoopbackHost } from "../net/outbound-url.js";
import * as z from "../zod.js";

/** What each key of a `[[feed]]` takes, in our words, with an example (config errors say this). */
export const FEED_KEY_HELP: Record<string, { expected: string; example: string }> = {
  name: { expected: '1-32 lower-case letters, digits, "_", "-" or ".", unique among the feeds', example: 'name = "spamhaus-drop"' },
  url: { expected: "an http://, https:// or file:/// URL (kind crowdsec: the Local API's http:// or https:// address)", example: 'url = "https://www.spamhaus.org/drop/drop.txt"' },
  kind: { expected: '"list" (a published list, the default) or "crowdsec" (a CrowdSec Local API\'s decision stream)', example: 'kind = "crowdsec"' },
  api_key_file: { expected: "the path of a 0600 file holding a CrowdSec bouncer key (cscli bouncers add), for kind crowdsec only", example: 'api_key_file = "/etc/iblock/crowdsec-bouncer.key"' },
  interval: { expected: 'a duration of at least 1m for a list, like "15m", "6h" or "1d"; at least 1s for kind crowdsec (default 10s)', example: 'interval = "6h"' },
  max_entries: { expected: "a whole number, 1-1048576", example: "max_entries = 100000" },
  min_prefix_v4: { expected: "a whole number, 1-32: wider networks are refused", example: "min_prefix_v4 = 16" },
  min_prefix_v6: { expected: "a whole number, 1-128: wider networks are refused", example: "min_prefix_v6 = 32" },
  shrink_hold: { expected: 'a duration like "12h", "24h" or "7d"', example: 'shrink_hold = "24h"' },
  timeout: { expected: 'a duration of at most 10m, like "30s" or "2m"', example: 'timeout = "30s"' },
  max_bytes: { expected: 'a size of at most 1GB: a number of bytes, or "512KB", "32MB"', example: 'max_bytes = "32MB"' },
};

const SIZE_UNITS = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as const;
const MAX_SIZE = SIZE_UNITS.GB;

/** "32MB", "512KB", "1GB" or a number of bytes; undefined when malformed or out of range. */
export function parseSize(value: string | number): number | undefined {
  let bytes: number;
  if (typeof value === "number") bytes = value;
  else {
    const m = /^(\d{1,10})\s*(B|KB|MB|GB)?$/i.exec(value.trim());
    if (!m) return undefined;
    bytes = Number(m[1]) * SIZE_UNITS[(m[2]?.toUpperCase() ?? "B") as keyof typeof SIZE_UNITS];
  }
  return Number.isInteger(bytes) && bytes >= 1 && bytes <= MAX_SIZE ? bytes : undefined;
}

function durationKey(minMs: number, maxMs: number) {
  return parsed(
    z.string(),
    (text) => {
      const ms = parseDuration(text);
      return ms !== undefined && ms >= minMs && ms <= maxMs ? ms : undefined;
    },
    "bad duration",
  );
}

function feedUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.protocol === "http:" || url.protocol === "https:") return url.hostname !== "";
  // file:///path only: a host part ("file://server/x") would be a network share.
  return url.protocol === "file:" && url.host === "" && isAbsolute(decodeURIComponent(url.pathname));
}

const H = 3_600_000;

/** How often a feed is fetched when its config says nothing: a list rarely changes, CrowdSec's decisions do. */
const DEFAULT_INTERVAL = { list: 6 * H, crowdsec: 10_000 } as const;
const MIN_LIST_INTERVAL = 60_000;

export const feedSchema = z.strictObject({
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9_.-]{0,31}$/)),
  kind: z._default(z.enum(["list", "crowdsec"]), "list"),
  url: z.string().check(z.refine(feedUrl)),
  api_key_file: z.optional(z.string().check(z.minLength(1))),
  // Its default depends on the kind: see feedInterval.
  interval: z.optional(durationKey(1_000, 365 * 24 * H)),
  max_entries: z._default(whole(1, 1_048_576), 100_000),
  // As wide as a person may ban without --force (max_manual_v4/v6): a list is trusted no more than a person.
  min_prefix_v4: z._default(whole(1, 32), 16),
  min_prefix_v6: z._default(whole(1, 128), 32),
  shrink_hold: z._default(durationKey(1_000, 365 * 24 * H), 24 * H),
  timeout: z._default(durationKey(1_000, 600_000), 30_000),
  max_bytes: z._default(parsed(z.union([z.number(), z.string()]), parseSize, "bad size"), 32 * SIZE_UNITS.MB),
});

export type FeedConfig = z.infer<typeof feedSchema>;

/** How often the feed is fetched, in ms. */
export const feedInterval = (feed: Pick<FeedConfig, "kind" | "interval">): number => feed.interval ?? DEFAULT_INTERVAL[feed.kind];

/** What a feed of each kind must have beyond its keys' own checks; undefined when it is whole. */
// `said`: the message is the reason itself and goes into the error; else the key's help says it.
function kindIssue(f: FeedConfig): { key: string; message: string; said: boolean } | undefined {
  if (f.kind === "list") {
    if (f.api_key_file !== undefined) return { key: "api_key_file", message: "only a feed of kind crowdsec takes an api_key_file", said: true };
    if (f.interval !== undefined && f.interval < MIN_LIST_INTERVAL) return { key: "interval", message: "bad duration", said: false };
    return undefined;
  }
  if (f.api_key_file === undefined) return { key: "api_key_file", message: "a feed of kind crowdsec needs the bouncer key's file", said: true };
  if (new URL(f.url).protocol === "file:") return { key: "url", message: "a feed of kind crowdsec reads a Local API over http:// or https://", said: true };
  return undefined;
}

/**
 * A feed read over plain http:// can be rewritten by anyone on the path, and
 * feeds carry no signature or checksum to catch it: said at start and reload.
 */
export function plainHttpWarning(feed: FeedConfig): string | undefined {
  const url = new URL(feed.url);
  if (url.protocol !== "http:") return undefined;
  // A Local API on loopback is read where nobody else is on the path.
  if (feed.kind === "crowdsec" && isLoopbackHost(url.hostname)) return undefined;
  return `feed ${feed.name}: ${feed.url} is plain http:// with no signature or checksum: anyone on the path can rewrite the list, and so choose what this host bans; use https://`;
}

/** The `feed` key of the config: a list of `[[feed]]` tables with unique names. */
export const feedsSchema = z._default(z.array(feedSchema), []).check(
  z.superRefine((feeds, ctx) => {
    const seen = new Set<string>();
    feeds.forEach((f, i) => {
      if (seen.has(f.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: "another feed has this name", params: { said: true } });
      seen.add(f.name);
      const wrong = kindIssue(f);
      if (wrong) ctx.addIssue({ code: "custom", path: [i, wrong.key], message: wrong.message, params: { said: wrong.said } });
    });
  }),
);

/** A config error inside `[[feed]]`, in our words: which feed, which key, its value, what it takes. */
export function describeFeedIssue(issue: z.core.$ZodIssue, feeds: unknown): string {
  const [, index, key] = issue.path;
  const list = Array.isArray(feeds) ? (feeds as unknown[]) : undefined;
  if (!list) return 'key "feed": expected [[feed]] tables, each with a name and a url (e.g. [[feed]] name = "drop" url = "https://example.org/drop.txt")';
  const entry = list[Number(index)] as Record<string, unknown> | undefined;
  const which = typeof entry?.name === "string" ? `feed "${entry.name}"` : `feed #${Number(index) + 1}`;
  if (issue.code === "unrecognized_keys") {
    return `${which}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")} (known keys: ${Object.keys(FEED_KEY_HELP).join(", ")})`;
  }
  if (key === undefined) return `${which}: expected a table with a name and a url`;
  const help = FEED_KEY_HELP[String(key)];
  const value = entry?.[String(key)];
  const what = value === undefined ? "is missing" : `value ${JSON.stringify(value)} is not valid`;
  const said = issue.code === "custom" && (issue.params as { said?: boolean } | undefined)?.said === true ? `${issue.message}; ` : "";
  return `${which}: key "${String(key)}": ${what}: ${said}expected ${help?.expected ?? issue.message} (e.g. ${help?.example ?? "see docs/feeds.md"})`;
}
