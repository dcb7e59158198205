/** What the applier needs of XINFO STREAM to tell whether entries after its position were lost. */
export interface StreamInfo {
  lastGenerated: string;
  maxDeleted: string;
  /** The oldest entry's id; undefined when the stream is empty. */
  first: string | undefined;
  added: number;
  length: number;
}

/** The commands of a Redis client that XINFO needs. */
export interface StreamInfoReader {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** XINFO STREAM of `key`; a stream that does not exist is an empty one that never had an entry. */
export async function streamInfo(redis: StreamInfoReader, key: string): Promise<StreamInfo> {
  let flat: unknown;
  try {
    flat = await redis.call("XINFO", "STREAM", key);
  } catch (e) {
    if (/no such key/i.test((e as Error).message)) return { lastGenerated: "0-0", maxDeleted: "0-0", first: undefined, added: 0, length: 0 };
    throw e;
  }
  const items = Array.isArray(flat) ? (flat as unknown[]) : [];
  const value = (k: string): unknown => {
    const i = items.indexOf(k);
    return i === -1 ? undefined : items[i + 1];
  };
  const id = (k: string): string => {
    const v = value(k);
    return typeof v === "string" ? v : "0-0";
  };
  const entry = value("first-entry");
  const first = Array.isArray(entry) && typeof entry[0] === "string" ? entry[0] : undefined;
  return { lastGenerated: id("last-generated-id"), maxDeleted: id("max-deleted-entry-id"), first, added: Number(value("entries-added") ?? 0), length: Number(value("length") ?? 0) };
}
