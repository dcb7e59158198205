// The thread SnapshotChecker starts: checks the pages it is sent, in order.
import { parentPort, workerData } from "node:worker_threads";
import { checkPage, type CheckRequest } from "./snapshot-check.js";

const { secret, fleet } = workerData as { secret: Uint8Array; fleet: string };
const key = Buffer.from(secret);
parentPort?.on("message", (req: CheckRequest) => {
  parentPort?.postMessage({ id: req.id, page: checkPage(key, fleet, req.flat) });
});
