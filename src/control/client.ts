import { connect } from "node:net";
import { IblockError } from "../errors.js";
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
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (!connected && (e.code === "ENOENT" || e.code === "ECONNREFUSED")) resolve(undefined);
      else reject(new Error(`control socket ${path}: ${e.message}`));
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
