import type { Policy } from "../policy/policy.js";
import type { FeedConfig } from "./config.js";
import type { FeedRules } from "./parse.js";

/**
 * A feed's rules for one refresh: the host's addresses, gateways and
 * resolvers read once, and each entry checked as it would be banned (a plain
 * address widened like a trap hit, never over them), as a manual ban is.
 */
export function feedRules(policy: Policy, feed: Pick<FeedConfig, "max_entries" | "min_prefix_v4" | "min_prefix_v6">): FeedRules {
  const host = policy.hostFacts();
  return {
    maxEntries: feed.max_entries,
    minPrefixV4: feed.min_prefix_v4,
    minPrefixV6: feed.min_prefix_v6,
    ours: (p) => host.covering(p) !== undefined,
    allowed: (p) => policy.allow.match(p) !== undefined,
    asBanned: (p) => policy.asBanned(p, host),
  };
}
