import type { Logger } from "../log.js";
import type { Verified } from "./message.js";
import { quote } from "./message.js";
import type { PeerMark } from "./outbox.js";
import { aheadOfClock } from "./seq.js";
import type { Store } from "../store/store.js";

// Origins whose last message is remembered (the replay check): a fleet is a few
// hosts; past this, the one heard from longest ago is forgotten.
const MAX_PEERS = 1_000;

/**
 * The last message read from each peer's stream: a message whose sequence is
 * not after its origin's mark is a copy put back in the stream (a replay).
 */
export class PeerMarks {
  readonly marks = new Map<string, PeerMark>();
  /** A mark moved since the position was last kept. */
  changed = false;

  /**
   * A restart keeps the replay checks: a copy of an old message is as old after
   * it. A mark ahead of the clock (a clock since set right) would refuse that
   * peer's every message until then: forgotten, as one would be refused today.
   */
  constructor(kept: ReadonlyMap<string, PeerMark>, skewMs: number, log: Logger) {
    const now = Date.now();
    for (const [origin, mark] of kept) {
      const ahead = aheadOfClock(mark.at, mark.seq, now, skewMs);
      if (ahead) {
        log.warn(`cluster: forgot the replay mark of ${quote(origin)}: ${ahead}`);
        this.changed = true;
      } else if (this.marks.size < MAX_PEERS) this.marks.set(origin, mark);
    }
  }

  get(origin: string): PeerMark | undefined {
    return this.marks.get(origin);
  }

  saw(m: Verified): void {
    if (!this.marks.has(m.origin) && this.marks.size >= MAX_PEERS) {
      let oldest: [string, PeerMark] | undefined;
      for (const e of this.marks) if (!oldest || e[1].at < oldest[1].at) oldest = e;
      if (oldest) this.marks.delete(oldest[0]);
    }
    this.marks.set(m.origin, { at: m.at, seq: m.seq });
    this.changed = true;
  }
}

/**
 * A copy of a message already read (its sequence not after its origin's mark)
 * that would change nothing here: a ban of what is banned here already, or an
 * unban of a ban that is not its origin's here. It is skipped unsaid; a copy
 * that would change something (a lifted ban put back, a ban made since lifted)
 * is a replay, refused and said.
 */
export function changesNothing(store: Store, m: Verified): boolean {
  if (m.kind === "ban") return store.isBanned(m.prefix) || store.coveringBan(m.prefix) !== undefined;
  const open = store.openBan(m.prefix);
  return open?.source !== "peer" || open.origin !== m.origin;
}
