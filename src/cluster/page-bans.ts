import type { ImportEntry } from "../store/store.js";
import { expiresAt, portAt, prefixAt, type CheckedPage } from "./snapshot-check.js";
import type { SortedPage } from "./sorted-pages.js";

/**
 * The entries of a checked snapshot page to import (`kept`, positions in the
 * page, in its field order), each made an ImportEntry only when the merge
 * takes it: a window holds the page's columns, not an object per ban.
 */
export class PageBans implements SortedPage<ImportEntry> {
  /**
   * The reason each ban is stored with ("origin: reason") by the pair of
   * word indexes: a page has a few such pairs for its 10,000 entries, so
   * one string each, not one a ban.
   */
  private readonly reasons = new Map<number, string>();

  constructor(
    private readonly page: CheckedPage,
    private readonly kept: readonly number[],
  ) {}

  get length(): number {
    return this.kept.length;
  }

  key(i: number): string {
    return this.page.fields[this.kept[i] as number] as string;
  }

  item(i: number): ImportEntry {
    const p = this.page;
    const at = this.kept[i] as number;
    return {
      prefix: prefixAt(p, at),
      expires_at: expiresAt(p, at),
      reason: this.storedReason(p.origins[at] as number, p.reasons[at] as number),
      port: portAt(p, at) ?? null,
      origin: p.words[p.origins[at] as number] ?? null,
    };
  }

  private storedReason(origin: number, reason: number): string {
    // A page's words number at most three an entry, well under 2^20.
    const pair = origin * 2 ** 20 + reason;
    let text = this.reasons.get(pair);
    if (text === undefined) this.reasons.set(pair, (text = `${this.page.words[origin] as string}: ${this.page.words[reason] as string}`));
    return text;
  }
}
