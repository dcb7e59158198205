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
  (s.type === "ipv4_addr" || s.type === "ipv6_addr") && !/allow|white|trust|canary|narrow|cookie/i.test(s.name);

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

function ipv4ToInt(a: string): number | undefined {
  const parts = a.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** [first, last] IPv4 addresses (as numbers) of "a", "a/len" or "a-b"; undefined for IPv6 and others. */
function v4Interval(text: string): [number, number] | undefined {
  const dash = text.indexOf("-");
  if (dash > 0) {
    const lo = ipv4ToInt(text.slice(0, dash));
    const hi = ipv4ToInt(text.slice(dash + 1));
    return lo !== undefined && hi !== undefined ? [lo, hi] : undefined;
  }
  const [addr = "", lenText] = text.split("/");
  const base = ipv4ToInt(addr);
  if (base === undefined) return undefined;
  const len = lenText === undefined ? 32 : Number(lenText);
  const size = 2 ** (32 - len);
  const lo = Math.floor(base / size) * size;
  return [lo, lo + size - 1];
}

/** How many distinct IPv4 addresses inside `cidr` the elements (addresses, prefixes, ranges) cover. */
export function countV4Within(elements: Iterable<string>, cidr: string): number {
  const range = v4Interval(cidr);
  if (!range) throw new Error(`not an IPv4 prefix: ${cidr}`);
  const intervals: [number, number][] = [];
  for (const e of elements) {
    const iv = v4Interval(e);
    if (!iv) continue;
    const lo = Math.max(iv[0], range[0]);
    const hi = Math.min(iv[1], range[1]);
    if (lo <= hi) intervals.push([lo, hi]);
  }
  intervals.sort((a, b) => a[0] - b[0]);
  let count = 0;
  let end = -1;
  for (const [lo, hi] of intervals) {
    if (hi <= end) continue;
    count += hi - Math.max(lo, end + 1) + 1;
    end = hi;
  }
  return count;
}
