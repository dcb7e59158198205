import { unavailableError, usageError } from "../errors.js";
import type { Feeds } from "./feeds.js";

// The control socket drops a client idle for 30 s: a refresh that takes
// longer goes on, and the answer says so.
const ANSWER_WITHIN_MS = 25_000;

/** The control socket's `feeds` command, answered by the daemon's Feeds. */
export async function feedsCommand(feeds: Feeds | undefined, action: "list" | "refresh" | "accept", name?: string): Promise<unknown> {
  if (!feeds) throw unavailableError("feeds are run by the daemon, and it is not running");
  if (action === "list") return { feeds: feeds.views() };
  if (action === "accept" && name === undefined) throw usageError("feeds accept: which feed? (iblock feeds accept NAME)");
  const work = action === "accept" ? feeds.accept(name ?? "") : feeds.refresh(name).then(({ views, failed }) => ({ feeds: views, failed }));
  work.catch(() => undefined); // a refresh that fails after the answer went must not be an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ still_running: true }>((resolve) => {
    timer = setTimeout(() => resolve({ still_running: true }), ANSWER_WITHIN_MS);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
