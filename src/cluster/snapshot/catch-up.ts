import type { ImportEntry } from "../../store/store.js";
import type { SnapshotEntry } from "./entry.js";
import { mergePages } from "./merge.js";
import type { CheckedPage } from "./page.js";
import { SnapshotReader, type ReaderData } from "./reader.js";
import type { HashScanner } from "./scan.js";

// Snapshot entries per HSCAN page and per import batch (a store transaction, a firewall load).
export const SNAPSHOT_PAGE = 10_000;
// Snapshot entries held, sorted, before they are imported in field order (as
// their pages' columns, about 30 MB; a window also ends at READ_AHEAD pages).
const SORT_WINDOW = 250_000;
// Pages read and checked ahead of the one being recorded: the next window.
const READ_AHEAD = SORT_WINDOW / SNAPSHOT_PAGE;
// A peer's ban from the snapshot: its own expiry, reason and port; nothing of it is in the firewall yet.
export const PEER_IMPORT = { source: "peer", reason: null, durationMs: Infinity, addOnly: true } as const;

/**
 * The window to sort before importing, with `imported` entries of this
 * catch-up handed on: as large as that, up to SORT_WINDOW. A page of a window
 * of w entries spans 1/w-th of the prefixes per entry, so it touches about
 * the same few index pages while the indexes are small and the window too;
 * and the store starts on the first page instead of waiting for a full
 * window (2.8 s of a million's catch-up).
 */
export function sortWindow(imported: number): number {
  return Math.max(SNAPSHOT_PAGE, Math.min(SORT_WINDOW, imported));
}

/** Where the bans go: the imports' streamed bulk load (bans/imports.ts). */
export interface BanImporter {
  importBans(entries: readonly ImportEntry[], opts: typeof PEER_IMPORT): Promise<number>;
}

/** The snapshot, checked, a page at a time (a SnapshotReader). */
export interface PageReader {
  /** The next page, sorted by field name; undefined after the last. */
  next(): Promise<CheckedPage | undefined>;
  close(): Promise<void>;
}

/**
 * A reader of the snapshot: pages read and checked on a thread of its own, up
 * to a window ahead of the one being imported (or here, through `fallback`,
 * where that thread cannot start).
 */
export function openSnapshot(where: Omit<ReaderData, "count">, fallback: HashScanner): SnapshotReader {
  return new SnapshotReader({ ...where, count: SNAPSHOT_PAGE }, READ_AHEAD, fallback);
}

export interface CatchUp {
  /** The bans to import of a batch of entries in field order (the applier's checks: refused, ours, expired left out). */
  bansOf(batch: readonly SnapshotEntry[]): ImportEntry[];
  importer: BanImporter;
  stopped(): boolean;
}

/**
 * Every ban in force in the snapshot, in bulk: each page sorted as it was
 * checked; the pages of a window merged, and imported in field order a page
 * at a time (a store transaction each, streamed into a few firewall loads,
 * no log line each). Closes the reader; resolves once the last ban is in the
 * firewall.
 */
export async function catchUpFromSnapshot(reader: PageReader, c: CatchUp): Promise<{ seen: number; applied: number }> {
  let seen = 0;
  let applied = 0;
  let window: CheckedPage[] = [];
  let held = 0;
  const importWindow = async (): Promise<void> => {
    for (const batch of mergePages(window, SNAPSHOT_PAGE)) {
      if (c.stopped()) break;
      seen += batch.length;
      applied += await c.importer.importBans(c.bansOf(batch), PEER_IMPORT);
      await new Promise((r) => setImmediate(r)); // trap hits go on between pages
    }
    window = [];
    held = 0;
  };
  try {
    for (let page = await reader.next(); page && !c.stopped(); page = await reader.next()) {
      window.push(page);
      held += page.fields.length;
      if (held >= sortWindow(seen) || window.length >= READ_AHEAD) await importWindow();
    }
    if (!c.stopped()) await importWindow();
  } finally {
    await reader.close();
  }
  // Resolves once the last batch is in the firewall.
  await c.importer.importBans([], PEER_IMPORT);
  return { seen, applied };
}
