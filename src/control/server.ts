import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { EX_DATAERR, EX_SOFTWARE, IblockError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Operations } from "./operations.js";
import { request, type Request, type Response } from "./protocol.js";

// An import batch is the largest request (IMPORT_BATCH prefixes).
const MAX_REQUEST = 1024 * 1024;
const IDLE_MS = 30_000;

async function answer(ops: Operations, req: Request): Promise<unknown> {
  switch (req.cmd) {
    case "ban":
      return ops.ban(req.address, req.reason, req.time, { local: req.local, force: req.force });
    case "unban":
      return ops.unban(req.address);
    case "import":
      return ops.importBatch(req.prefixes, req.reason, req.time, { last: req.last, force: req.force });
    case "stats":
      return ops.status();
    case "show":
      return ops.show(req.address);
    case "cluster":
      return ops.cluster();
    case "ping":
      return { pid: process.pid };
    case "feeds":
      return ops.feeds(req.action, req.name);
    case "tool":
      return ops.toolChanges(req.source, req.changes);
  }
}

/** The daemon's control socket: a unix socket only root (its owner) may use. */
/** `onConnection`: told of each connection before its request is answered (the daemon times its event loop while it works). */
export function startControlServer(path: string, ops: Operations, log: Logger, onConnection: () => void = () => undefined): Promise<Server> {
  try {
    unlinkSync(path); // left behind by a daemon that was killed
  } catch {
    /* none there */
  }
  const clients = new Set<Socket>();
  const server = createServer((socket) => {
    onConnection();
    let buf = "";
    clients.add(socket);
    socket.on("close", () => clients.delete(socket));
    // An idle client must not hold the daemon's shutdown.
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    socket.setEncoding("utf8");
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) socket.destroy();
      const nl = buf.indexOf("\n");
      if (nl === -1) return;
      const line = buf.slice(0, nl);
      socket.pause();
      void respond(line).then((res) => socket.end(JSON.stringify(res) + "\n"));
    });
  });
  async function respond(line: string): Promise<Response> {
    try {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        return { ok: false, error: "bad request: not JSON", exitCode: EX_DATAERR };
      }
      const parsed = request.safeParse(json);
      if (!parsed.success) return { ok: false, error: `bad request: ${parsed.error.message}`, exitCode: EX_DATAERR };
      return { ok: true, result: await answer(ops, parsed.data) };
    } catch (e) {
      if (e instanceof IblockError) return { ok: false, error: e.message, exitCode: e.exitCode };
      log.error(`control: ${String(e)}`);
      return { ok: false, error: String(e), exitCode: EX_SOFTWARE };
    }
  }
  // Closing the server also drops the clients still connected.
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void): Server => {
    for (const c of clients) c.destroy();
    return close(cb);
  };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // Created 0600 from the start, not chmod-ed after a moment world-writable.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        chmodSync(path, 0o600);
        server.off("error", reject);
        resolve(server);
      });
    } finally {
      process.umask(umask); // the bind happened inside listen()
    }
  });
}
