// Shapes the config schemas share.
import { parseDuration } from "./policy/duration.js";
import * as z from "./zod.js";

/**
 * `input`'s value turned into another by `parse`, or an issue with `message`
 * when `parse` gives undefined (classic zod's `.transform` with `ctx.addIssue`).
 */
export function parsed<S extends z.ZodMiniType, T>(input: S, parse: (value: z.output<S>) => T | undefined, message: string) {
  return z.pipe(
    input,
    z.transform((value: z.output<S>, ctx) => {
      const result = parse(value);
      if (result === undefined) ctx.issues.push({ code: "custom", message, input: value });
      return result as T;
    }),
  );
}

/** A whole number from min to max (classic zod's `z.number().int().min(min).max(max)`). */
export function whole(min: number, max: number) {
  return z.number().check(z.int(), z.minimum(min), z.maximum(max));
}

/** A duration string ("90s", "15m", "24h", "7d", or "permanent" where allowed) as ms. */
export function duration(permanentAllowed: boolean) {
  const expected = `expected a duration like "90s", "15m", "24h" or "7d"${permanentAllowed ? ', or "permanent"' : ""}`;
  return parsed(
    z.string(),
    (text) => {
      const ms = parseDuration(text);
      return ms === Infinity && !permanentAllowed ? undefined : ms;
    },
    expected,
  );
}
