/**
 * What a terminal or a log reader would act on or not show: control
 * characters (C0, DEL, C1: escape sequences, line breaks that forge a log
 * line), format characters (bidi overrides and isolates, zero-width ones),
 * line and paragraph separators, lone surrogates, and the other characters
 * Unicode says to draw as nothing (fillers, variation selectors, tags).
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escaped(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.codePointAt(0) ?? 0;
  const hex = code.toString(16);
  if (code <= 0xff) return `\\x${hex.padStart(2, "0")}`;
  if (code <= 0xffff) return `\\u${hex.padStart(4, "0")}`;
  return `\\u{${hex}}`;
}

/**
 * Text from peers, feeds, Redis, the store or the API as a terminal and a log
 * line may show it: each of those characters written out as \x1b, \u202e...,
 * so an admin sees what came, and nothing moves the cursor, recolours the
 * screen, reorders the line or starts a new one. A backslash stays as it is:
 * our own messages quote with JSON.stringify, whose \" must stay readable.
 */
export function printable(text: string): string {
  return text.replace(HIDDEN, escaped);
}

/**
 * JSON for a terminal: the same data once parsed, with every character
 * printable() escapes written as a \u escape (JSON.stringify leaves C1, DEL
 * and the bidi characters as they are). A raw line break can only be the
 * layout's (JSON.stringify escapes those inside strings): it stays.
 */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(HIDDEN, (c) =>
    c === "\n" ? c : Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`).join(""),
  );
}
