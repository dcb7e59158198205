import { z } from "zod";

/** Prefixes per import request: about 100 KB of JSON. */
export const IMPORT_BATCH = 5_000;

/** One request per connection, one JSON line each way. */
export const request = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("ban"), address: z.string(), reason: z.string().optional(), time: z.string().optional(), local: z.boolean().optional() }),
  z.object({ cmd: z.literal("unban"), address: z.string() }),
  z.object({ cmd: z.literal("stats") }),
  // `iblock import`: a batch of lines already parsed and checked by the CLI, checked again here.
  z.object({
    cmd: z.literal("import"),
    prefixes: z.array(z.string()).max(IMPORT_BATCH),
    reason: z.string().optional(),
    time: z.string().optional(),
    // The file's last batch: answered once every ban of the import is in the firewall.
    last: z.boolean().optional(),
  }),
  z.object({ cmd: z.literal("show"), address: z.string() }),
  z.object({ cmd: z.literal("ping") }),
  // `iblock feeds [refresh [NAME] | accept NAME]`
  z.object({ cmd: z.literal("feeds"), action: z.enum(["list", "refresh", "accept"]), name: z.string().max(64).optional() }),
  z.object({ cmd: z.literal("cluster") }),
]);
export type Request = z.infer<typeof request>;

export type Response = { ok: true; result: unknown } | { ok: false; error: string; exitCode: number };
