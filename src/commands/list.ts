import type { Config } from "../config.js";
import { banView } from "../control/operations.js";
import type { BanRow } from "../store/store.js";
import { withReaderAsync } from "../bans/pipeline.js";
import { printable, printableJson } from "../printable.js";
import { banCells, columnWidths, headerLine, rowLine } from "./ban-table.js";
import { LineWriter } from "./output.js";

export interface ListOptions {
  limit?: number;
  /** ms since the epoch: bans that started at or after it. */
  since?: number;
}

async function eachRow(config: Config, opts: ListOptions, fn: (r: BanRow) => Promise<void>): Promise<void> {
  await withReaderAsync(config, async (store) => {
    for (const row of store.iterateActive(opts)) await fn(row);
  });
}

/** A store key as formatPrefix prints it (the length only for a network), without parsing a million of them. */
export const shown = (key: string): string => key.replace(/\/(32|128)$/, (m, len: string) => (len === "32" && key.includes(":") ? m : ""));

// The rows the columns are measured on before the first line is written: the first lines come at once.
const MEASURED = 1000;

/**
 * `iblock list`: a table a person reads (aligned columns, local time or UTC
 * to the second, how long each ban has left); `--json`: one JSON array,
 * written as it goes, for scripts.
 */
export async function listBans(config: Config, opts: ListOptions & { json?: boolean; utc?: boolean }): Promise<void> {
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
    const now = Date.now();
    const measured: string[][] = [];
    let widths: number[] | undefined;
    const start = async (): Promise<number[]> => {
      const found = columnWidths(measured);
      await w.line(headerLine(found));
      for (const cells of measured) await w.line(rowLine(cells, found));
      return found;
    };
    await eachRow(config, opts, async (r) => {
      const cells = banCells(r, now, opts.utc);
      if (widths) return w.line(rowLine(cells, widths));
      measured.push(cells);
      if (measured.length === MEASURED) widths = await start();
    });
    if (!widths) await start();
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
