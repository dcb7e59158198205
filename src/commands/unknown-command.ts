import { type IblockError, usageError } from "../errors.js";

/** "unknown command 'lsit' (did you mean list?)", exit 64. */
export function unknownCommand(word: string, commands: readonly string[]): IblockError {
  const near = commands
    .map((c) => ({ c, d: editDistance(word, c) }))
    .filter((x) => x.d <= Math.max(1, Math.floor(x.c.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  const hint = near ? `did you mean ${near.c}?` : `commands: ${commands.join(", ")}`;
  return usageError(`unknown command ${JSON.stringify(word).replace(/^"|"$/g, "'")} (${hint})`);
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (lsit -> list). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}
