import { fstatSync } from "node:fs";
import { Socket } from "node:net";

/**
 * The TCP connection inetd hands us as standard input, or undefined when
 * stdin is something else (a terminal, a file, a pipe from a shell or node).
 */
export function stdinTcpSocket(): Socket | undefined {
  try {
    if (!fstatSync(0).isSocket()) return undefined;
  } catch {
    return undefined;
  }
  const socket = new Socket({ fd: 0, readable: false, writable: false });
  // A unix socket has no TCP local port; a TCP one keeps it even after a reset.
  if (socket.localPort === undefined) {
    socket.destroy();
    return undefined;
  }
  return socket;
}
