import { configError } from "../errors.js";

// A newline would add a line of the admin's config to the unit (ExecStartPre=...),
// a trailing backslash joins the next line, whitespace and quotes split or
// regroup words in ExecStart= and ReadWritePaths=. A path with any of them is
// refused rather than quoted: systemd's quoting differs from one setting to another.
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\s\\'"]/u;

/**
 * A path for a line of the generated unit, `%` escaped as `%%` (a specifier)
 * and, in Exec lines, `$` as `$$` (a variable). Exit 78 for a path that could
 * change the unit's lines or words, naming the key it came from.
 */
export function unitPath(key: string, path: string, exec = false): string {
  if (UNSAFE.test(path)) {
    throw configError(`${key}: ${JSON.stringify(path)} holds a control character, whitespace, a quote or a backslash, which would change the generated unit's lines: pick a path without them`);
  }
  const escaped = path.replaceAll("%", "%%");
  return exec ? escaped.replaceAll("$", "$$$$") : escaped;
}
