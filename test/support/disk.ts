// A full disk, as the store-outage test and the fault bench make it.
import { open } from "node:fs/promises";

/** Write zeros to `file` until the file system is full (bounded by `maxBytes`). */
export async function fill(file: string, maxBytes: number): Promise<void> {
  const fh = await open(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let written = 0; written < maxBytes; written += chunk.length) await fh.write(chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
