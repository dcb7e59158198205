// Reading iblock's nftables table from a test namespace, without knowing how
// the daemon names its sets: every set of addresses in `table inet iblock`
// that is not an allow list counts as a ban set.
import { exec } from "./netns.js";

export const FAMILY = "inet";
export const TABLE = "iblock";

interface NftSet {
  family: string;
  table: string;
  name: string;
  type: string | string[];
  flags?: string[];
  elem?: unknown[];
}

function setsOf(json: unknown): NftSet[] {
  const items = (json as { nftables?: unknown[] }).nftables ?? [];
  const sets: NftSet[] = [];
  for (const item of items) {
    const set = (item as { set?: NftSet }).set;
    if (set) sets.push(set);
  }
  return sets;
}

const isBanSet = (s: NftSet): boolean =>
  (s.type === "ipv4_addr" || s.type === "ipv6_addr") && !/allow|white|trust|canary/i.test(s.name);

/** Turn one nft JSON set element into "addr" or "addr/len" (ranges as "a-b"). */
export function elementText(e: unknown): string | undefined {
  if (typeof e === "string") return e;
  if (typeof e !== "object" || e === null) return undefined;
  const o = e as { elem?: { val?: unknown }; prefix?: { addr: string; len: number }; range?: [unknown, unknown] };
  if (o.elem) return elementText(o.elem.val);
  if (o.prefix) return `${o.prefix.addr}/${o.prefix.len}`;
  if (o.range) return `${String(elementText(o.range[0]))}-${String(elementText(o.range[1]))}`;
  return undefined;
}

export async function tableExists(ns: string): Promise<boolean> {
  const r = await exec(ns, ["nft", "list", "table", FAMILY, TABLE], { check: false });
  return r.code === 0;
}

export async function deleteTable(ns: string): Promise<void> {
  await exec(ns, ["nft", "delete", "table", FAMILY, TABLE]);
}

/** Names of the ban sets (terse listing: no elements, cheap however full they are). */
export async function banSetNames(ns: string): Promise<{ name: string; type: string }[]> {
  const r = await exec(ns, ["nft", "-j", "-t", "list", "table", FAMILY, TABLE]);
  return setsOf(JSON.parse(r.stdout))
    .filter(isBanSet)
    .map((s) => ({ name: s.name, type: String(s.type) }));
}

/** Every element of every ban set (addresses and prefixes as text), deduplicated. */
export async function bannedElements(ns: string, sets?: readonly string[]): Promise<Set<string>> {
  const names = sets ?? (await banSetNames(ns)).map((s) => s.name);
  const out = new Set<string>();
  for (const name of names) {
    const r = await exec(ns, ["nft", "-j", "list", "set", FAMILY, TABLE, name]);
    for (const s of setsOf(JSON.parse(r.stdout))) {
      for (const e of s.elem ?? []) {
        const text = elementText(e);
        if (text !== undefined) out.add(text);
      }
    }
  }
  return out;
}
