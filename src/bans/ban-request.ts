import type { Prefix } from "../net/address.js";

/** One trap hit or one request to ban, already past the policy. */
export interface BanRequest {
  prefix: Prefix;
  /** Trap port; undefined when not known (a redirect listener cannot see it). */
  port?: number;
  source: string;
  reason?: string;
  /** A peer's ban: the fleet host that made it. */
  origin?: string;
  /** Ban for this long whatever the rules say (ms; Infinity: permanent). */
  durationMs?: number;
  /** When it was decided (ms); default now. With durationMs it fixes the exact end (a peer's absolute expiry). */
  at?: number;
  /** A hit's route, for its metrics: "kernel" when the kernel route saw the connection (and banned it there). */
  route?: "kernel" | "listener";
}
