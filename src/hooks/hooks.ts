import type { BanChange } from "../bans/changes.js";
import type { Logger } from "../log.js";
import type { HooksConfig, HookTarget } from "./config.js";
import { hookEvent } from "./event.js";
import { HookQueue, type HookCounts } from "./hook-queue.js";
import { programHook } from "./program.js";
import { webhook } from "./webhook.js";

export type HooksStatus = Record<string, HookCounts & { queued: number }>;

/** [hooks]: each ban to on_ban, each unban to on_unban, through a queue of its own. */
export class Hooks {
  private readonly onBan: HookQueue | undefined;
  private readonly onUnban: HookQueue | undefined;

  /** `secret`: the webhooks' key, read from secret_file. */
  constructor(config: HooksConfig, secret: Buffer | undefined, log: Logger) {
    const queue = (name: string, t: HookTarget | undefined): HookQueue | undefined =>
      t === undefined ? undefined : new HookQueue(name, typeof t === "string" ? webhook(t, secret ?? Buffer.alloc(0)) : programHook(t), log);
    this.onBan = queue("on_ban", config.on_ban);
    this.onUnban = queue("on_unban", config.on_unban);
  }

  /** The queue's change feed: synchronous and cheap. */
  readonly onChange = (c: BanChange): void => {
    const e = hookEvent(c);
    if (e) (e.event === "ban" ? this.onBan : this.onUnban)?.push(e);
  };

  get queues(): HookQueue[] {
    return [this.onBan, this.onUnban].filter((q): q is HookQueue => q !== undefined);
  }

  status(): HooksStatus {
    return Object.fromEntries(this.queues.map((q) => [q.name, { ...q.counts, queued: q.queued }]));
  }

  async stop(waitMs: number): Promise<void> {
    await Promise.all(this.queues.map((q) => q.stop(waitMs)));
  }
}
