import { z } from "zod";

/** One request per connection, one JSON line each way. */
export const request = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("ban"), address: z.string(), reason: z.string().optional(), time: z.string().optional() }),
  z.object({ cmd: z.literal("unban"), address: z.string() }),
  z.object({ cmd: z.literal("list") }),
  z.object({ cmd: z.literal("stats") }),
  z.object({ cmd: z.literal("show"), address: z.string() }),
  z.object({ cmd: z.literal("ping") }),
]);
export type Request = z.infer<typeof request>;

export type Response = { ok: true; result: unknown } | { ok: false; error: string; exitCode: number };
