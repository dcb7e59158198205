import * as z from "../zod.js";
import { TOOL_SOURCES } from "../bans/tool-sources.js";

/** Prefixes per import request: about 100 KB of JSON. */
export const IMPORT_BATCH = 5_000;

/** One change a log-reading blocker asks for; `reason` names its jail (fail2ban). */
export const toolChange = z.discriminatedUnion("op", [
  z.object({ op: z.literal("ban"), address: z.string().check(z.maxLength(64)), reason: z.optional(z.string().check(z.maxLength(100))), time: z.optional(z.string()) }),
  z.object({ op: z.literal("unban"), address: z.string().check(z.maxLength(64)), reason: z.optional(z.string().check(z.maxLength(100))) }),
  // sshguard's flush: every ban it holds is lifted.
  z.object({ op: z.literal("flush") }),
]);
export type ToolChange = z.infer<typeof toolChange>;

/** One request per connection, one JSON line each way. */
export const request = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("ban"), address: z.string(), reason: z.optional(z.string()), time: z.optional(z.string()), local: z.optional(z.boolean()), force: z.optional(z.boolean()) }),
  z.object({ cmd: z.literal("unban"), address: z.string() }),
  z.object({ cmd: z.literal("stats") }),
  // `iblock import`: a batch of lines already parsed and checked by the CLI, checked again here.
  z.object({
    cmd: z.literal("import"),
    prefixes: z.array(z.string()).check(z.maxLength(IMPORT_BATCH)),
    reason: z.optional(z.string()),
    time: z.optional(z.string()),
    // The file's last batch: answered once every ban of the import is in the firewall.
    last: z.optional(z.boolean()),
    force: z.optional(z.boolean()),
  }),
  z.object({ cmd: z.literal("show"), address: z.string() }),
  z.object({ cmd: z.literal("ping") }),
  // `iblock feeds [refresh [NAME] | accept NAME]`
  z.object({ cmd: z.literal("feeds"), action: z.enum(["list", "refresh", "accept"]), name: z.optional(z.string().check(z.maxLength(64))) }),
  z.object({ cmd: z.literal("cluster") }),
  // fail2ban's action and sshguard's backend: their bans and releases, in order.
  z.object({ cmd: z.literal("tool"), source: z.enum(TOOL_SOURCES), changes: z.array(toolChange).check(z.maxLength(IMPORT_BATCH)) }),
]);
export type Request = z.infer<typeof request>;

export type Response = { ok: true; result: unknown } | { ok: false; error: string; exitCode: number };
