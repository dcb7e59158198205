import { isAbsolute } from "node:path";
import { configError } from "../errors.js";
import { isSafeOutboundUrl, OUTBOUND_URL_EXPECTED } from "../net/outbound-url.js";
import * as z from "../zod.js";

/** What each key of [hooks] takes, in our words, with an example (config errors say this). */
export const HOOK_KEY_HELP: Record<string, { expected: string; example: string }> = {
  on_ban: {
    expected: "a program and its arguments (a list, the program an absolute path) or a webhook URL (https://, http:// only to loopback)",
    example: 'on_ban = ["/usr/local/bin/on-ban", "--from-iblock"]',
  },
  on_unban: {
    expected: "a program and its arguments (a list, the program an absolute path) or a webhook URL (https://, http:// only to loopback)",
    example: 'on_unban = "https://hooks.example.org/iblock"',
  },
  secret_file: { expected: "the path of a file holding the webhooks' HMAC key (mode 0600)", example: 'secret_file = "/etc/iblock/hook-secret"' },
};

const program = z
  .array(z.string().check(z.minLength(1)))
  .check(z.minLength(1), z.refine((argv) => isAbsolute(argv[0] ?? ""), "expected the program as an absolute path"));
const url = z.string().check(z.refine(isSafeOutboundUrl, OUTBOUND_URL_EXPECTED));

/** A list is a program to run (never through a shell); a string is a webhook URL. */
const target = z.union([program, url]);

/** The [hooks] section: what runs, or is told, when a ban is made or ends. */
export const hooksSchema = z.strictObject({
  on_ban: z.optional(target),
  on_unban: z.optional(target),
  secret_file: z.optional(z.string().check(z.minLength(1))),
});

export type HooksConfig = z.infer<typeof hooksSchema>;
export type HookTarget = NonNullable<HooksConfig["on_ban"]>;

/** A webhook's body is signed: a URL without secret_file is refused (and a secret with no URL, a mistake). */
export function checkHooksConfig(h: HooksConfig | undefined, source: string): void {
  if (!h) return;
  const urls = [h.on_ban, h.on_unban].some((t) => typeof t === "string");
  if (urls && h.secret_file === undefined) {
    throw configError(`config ${source}: [hooks]: a webhook URL needs secret_file (the key its body is signed with, e.g. secret_file = "/etc/iblock/hook-secret")`);
  }
  if (!urls && h.secret_file !== undefined) {
    throw configError(`config ${source}: [hooks]: secret_file is only for webhook URLs, and on_ban and on_unban name none; remove it`);
  }
}
