import { once } from "node:events";

/**
 * Lines to standard output with backpressure, a few hundred at a time: a
 * million lines are never one string, and memory stays at one chunk.
 */
export class LineWriter {
  private buf: string[] = [];

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  async line(text: string): Promise<void> {
    this.buf.push(text);
    if (this.buf.length >= 500) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const chunk = this.buf.join("\n") + "\n";
    this.buf = [];
    if (!this.out.write(chunk)) await once(this.out, "drain");
  }
}
