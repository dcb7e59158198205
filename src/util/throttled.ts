/** Log at most once per `ms` whatever the rate of events; counts what it swallowed. */
export function throttled(ms: number, say: (msg: string, skipped: number) => void): (msg: string) => void {
  let last = 0;
  let skipped = 0;
  return (msg) => {
    const now = Date.now();
    if (now - last < ms) {
      skipped++;
      return;
    }
    say(msg, skipped);
    last = now;
    skipped = 0;
  };
}
