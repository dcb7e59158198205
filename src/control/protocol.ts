import * as z from "../zod.js";

/** Prefixes per import request: about 100 KB of JSON. */
export const IMPORT_BATCH = 5_000;

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
]);
export type Request = z.infer<typeof request>;

export type Response = { ok: true; result: unknown } | { ok: false; error: string; exitCode: number };
