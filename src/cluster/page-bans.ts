import type { ImportEntry } from "../store/store.js";
import type { CheckedPage } from "./snapshot-check.js";
import type { SortedPage } from "./sorted-pages.js";

/**
 * The entries of a checked snapshot page to import (`kept`, positions in the
 * page, in its field order), each made an ImportEntry only when the merge
 * takes it: a window holds the page's columns, not an object per ban.
 */
export class PageBans implements SortedPage<ImportEntry> {
  constructor(
    private readonly page: CheckedPage,
    private readonly kept: readonly number[],
    /** The reason a ban is stored with, from its origin and its own. */
    private readonly storedReason: (origin: string, reason: string) => string,
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
    const expires = p.expires[at] as number;
    const port = p.ports[at] as number;
    return {
      prefix: { family: p.families[at] as 4 | 6, address: p.addresses[at] as string, length: p.lengths[at] as number },
      expires_at: Number.isNaN(expires) ? null : expires,
      reason: this.storedReason(p.words[p.origins[at] as number] as string, p.words[p.reasons[at] as number] as string),
      port: port === 0 ? null : port,
    };
  }
}
