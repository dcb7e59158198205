import { connect } from "node:net";
import { EX_NOPERM, EX_UNAVAILABLE, IblockError } from "../errors.js";
import type { Request, Response } from "./protocol.js";

/**
 * Ask the running daemon. Resolves undefined when no daemon listens (no socket,
 * or a stale one), so the caller can act on the store itself.
 */
export function askDaemon(path: string, req: Request): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buf = "";
    let connected = false;
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      connected = true;
      socket.write(JSON.stringify(req) + "\n");
    });
    socket.on("data", (d: string) => (buf += d));
    // A daemon busy with a huge restore may be slow, but never this slow.
    socket.setTimeout(60_000, () => socket.destroy(new Error("no answer in 60 s")));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (!connected && (e.code === "ENOENT" || e.code === "ECONNREFUSED")) resolve(undefined);
      else if (e.code === "EACCES") reject(new IblockError(`control socket ${path}: permission denied (the daemon's socket is for root)`, EX_NOPERM));
      else reject(new IblockError(`control socket ${path}: ${e.message}`, EX_UNAVAILABLE));
    });
    socket.on("end", () => {
      try {
        const res = JSON.parse(buf) as Response;
        if (res.ok) resolve(res.result);
        else reject(new IblockError(res.error, res.exitCode));
      } catch {
        reject(new Error(`control socket ${path}: unreadable answer ${JSON.stringify(buf.slice(0, 200))}`));
      }
    });
  });
}
