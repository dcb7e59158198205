import type { Prefix } from "../net/address.js";
import type { Logger } from "../log.js";
import type { EndKind } from "../store/store.js";

/**
 * A ban put in the firewall or ended, as it happens. The one feed for
 * everything that watches bans (metrics, the event stream, the fleet), so
 * none of them needs a hook of its own in the firewall applier.
 */
export type BanChange =
  | {
      kind: "ban";
      prefix: Prefix;
      /** trap | kernel | syn | cli | aggregate | import | feed:NAME | peer ... */
      source: string;
      reason: string | null;
      port: number | null;
      /** ms since the epoch; null: permanent. */
      expiresAt: number | null;
      at: number;
      /** A ban already in force given a new length (`ban --time`): not one more ban. */
      renewed?: true;
    }
  | {
      kind: "unban";
      prefix: Prefix;
      /** The text shown: unban | expired | covered by ... */
      reason: string;
      ending: EndKind;
      at: number;
    };

export type BanListener = (change: BanChange) => void;

/** Listeners run synchronously and must be cheap; one that throws is logged, never stops the others. */
export class BanChanges {
  private readonly listeners = new Set<BanListener>();

  constructor(private readonly log?: Logger) {}

  /** Returns the function that stops listening. */
  on(listener: BanListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: BanChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (e) {
        this.log?.error(`ban listener: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}
