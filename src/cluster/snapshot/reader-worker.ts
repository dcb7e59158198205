// The thread SnapshotReader starts: reads the snapshot with a Redis connection
// of its own, checks each page, and sends it on while the main thread has
// asked for more than it was sent.
import { parentPort, workerData } from "node:worker_threads";
import { catchUpClient } from "../connection.js";
import type { ReaderData, ReaderReply } from "./reader.js";
import { snapshotPages } from "./scan.js";
import { testHold } from "../../test-hold.js";

const data = workerData as ReaderData;
const port = parentPort;
let asked = 0;
let wake: (() => void) | undefined;
port?.on("message", (n: number) => {
  asked += n;
  wake?.();
});
const send = (m: ReaderReply): void => port?.postMessage(m);

async function run(): Promise<void> {
  const redis = catchUpClient(data.redis);
  try {
    // Connecting, nothing read yet: a test holds the catch-up here (see test-hold.ts).
    await testHold("catch-up");
    for await (const page of snapshotPages(redis, data.key, data.count, Buffer.from(data.secret), data.fleet)) {
      while (asked === 0) await new Promise<void>((r) => (wake = r));
      asked--;
      send({ page });
    }
    send({ end: true });
  } finally {
    redis.disconnect();
  }
}

run().catch((e: unknown) => send({ error: e instanceof Error ? e.message : String(e) }));
