import { createHmac } from "node:crypto";
import type { HookEvent } from "./event.js";
import type { Deliver } from "./hook-queue.js";

const TIMEOUT_MS = 10_000;
export const TIMESTAMP_HEADER = "X-Iblock-Timestamp";
export const SIGNATURE_HEADER = "X-Iblock-Signature";

/**
 * "sha256=" and the hex HMAC-SHA256 of "TIMESTAMP.BODY": the timestamp is
 * signed with the body, so a receiver that refuses old timestamps refuses a
 * request replayed later.
 */
export function signature(secret: Buffer, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * POST the batch as a JSON array, signed. Taken when the answer is 2xx;
 * never follows a redirect (the receiver is the URL configured).
 */
export function webhook(url: string, secret: Buffer, now: () => number = Date.now): Deliver {
  return async (events: readonly HookEvent[]) => {
    const body = JSON.stringify(events);
    const timestamp = String(Math.floor(now() / 1000));
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signature(secret, timestamp, body) },
      body,
      redirect: "error",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await res.body?.cancel().catch(() => undefined);
    if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  };
}
