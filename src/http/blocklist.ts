import { Readable } from "node:stream";
import { shown } from "../commands/list.js";
import { banView } from "../control/operations.js";
import type { Store } from "../store/store.js";

// Rows per synchronous read: a couple of milliseconds of SQLite, then the event loop goes on.
const PAGE = 2_000;

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The bans in force as a stream, a page at a time by id: a million lines
 * never sit in memory, and the daemon bans on between pages. No statement
 * is held open across pages (the daemon writes on the same connection).
 */
async function* pages(store: Store): AsyncGenerator<string[]> {
  for (const rows of store.activePages(PAGE)) {
    yield rows.map((r) => r.prefix);
    await nextTick();
  }
}

/** One address or network a line (what `iblock export` and `iblock import` use), after a comment header. */
export function blocklistText(store: Store, header: { updated: Date; count: number }): Readable {
  return Readable.from(
    (async function* () {
      yield `# iblock blocklist: addresses and networks banned on this host, one a line\n# updated ${header.updated.toISOString()}, ${header.count} entries\n`;
      for await (const keys of pages(store)) yield keys.map((k) => shown(k) + "\n").join("");
    })(),
    { objectMode: false },
  );
}

/** The same as `iblock export --format json`: one array of ban records. */
export function blocklistJson(store: Store): Readable {
  return Readable.from(
    (async function* () {
      let sep = "\n";
      yield "[";
      for (const rows of store.activePages(PAGE)) {
        let text = "";
        for (const r of rows) {
          text += sep + JSON.stringify(banView(r));
          sep = ",\n";
        }
        yield text;
        await nextTick();
      }
      yield "\n]\n";
    })(),
    { objectMode: false },
  );
}
