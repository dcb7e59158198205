/**
 * Runs operations one after another, in the order they were given: each starts
 * when the one before it has settled, whether it resolved or rejected. The
 * caller of `run` still sees its own operation's rejection.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Settles when everything given so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
