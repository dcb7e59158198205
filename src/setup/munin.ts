import type { Stats } from "../store/store.js";

/** munin-node's `config` answer: the graph the original plugin drew. */
export const MUNIN_CONFIG = `graph_title Banned IP absolute number
graph_vlabel gauge
graph_category security
graph_info Addresses and prefixes iblock bans now
a1.label value
`;

export const muninValue = (s: Pick<Stats, "active">): string => `a1.value ${s.active}\n`;

/** What munin reads as "unknown" (a gap in the graph), for a count that could not be read. */
export const MUNIN_UNKNOWN = "a1.value U\n";
