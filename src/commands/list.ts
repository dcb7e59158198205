import type { Config } from "../config.js";
import { banView } from "../control/operations.js";
import type { BanRow } from "../store/store.js";
import { openReader } from "../store/reader.js";
import { printable, printableJson } from "../printable.js";
import { isoTime } from "../time-text.js";
import { LineWriter } from "./output.js";

export interface ListOptions {
  limit?: number;
  /** ms since the epoch: bans that started at or after it. */
  since?: number;
}

async function eachRow(config: Config, opts: ListOptions, fn: (r: BanRow) => Promise<void>): Promise<void> {
  const store = openReader(config);
  try {
    for (const row of store.iterateActive(opts)) await fn(row);
  } finally {
    store.close();
  }
}

/** A store key as formatPrefix prints it (the length only for a network), without parsing a million of them. */
export const shown = (key: string): string => key.replace(/\/(32|128)$/, (m, len: string) => (len === "32" && key.includes(":") ? m : ""));

const until = (r: BanRow): string => (r.expires_at === null ? "permanent" : isoTime(r.expires_at));

/** `iblock list`: a header, then a line per ban; `--json`: one JSON array, written as it goes. */
export async function listBans(config: Config, opts: ListOptions & { json?: boolean }): Promise<void> {
  const w = new LineWriter();
  if (opts.json) {
    let first = true;
    await w.line("[");
    await eachRow(config, opts, async (r) => {
      await w.line(`${first ? "" : ","}${printableJson(banView(r))}`);
      first = false;
    });
    await w.line("]");
  } else {
    // Fields escaped one by one: a tab in a reason must not make a column.
    await w.line(["PREFIX", "SINCE", "EXPIRES", "PORT", "HITS", "SOURCE", "REASON"].join("\t"));
    await eachRow(config, opts, (r) =>
      w.line([printable(r.prefix), isoTime(r.first_seen), until(r), r.port ?? "-", r.hits, printable(r.source), printable(r.reason ?? "")].join("\t")),
    );
  }
  await w.flush();
}

/**
 * `iblock export`: txt is one address or network a line, exactly what PF's
 * `persist file` and `pfctl -T add -f` read (and what `iblock import` takes);
 * json is the full records.
 */
export async function exportBans(config: Config, format: "txt" | "json"): Promise<void> {
  if (format === "json") return listBans(config, { json: true });
  const w = new LineWriter();
  await eachRow(config, {}, (r) => w.line(printable(shown(r.prefix))));
  await w.flush();
}
