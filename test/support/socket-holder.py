#!/usr/bin/env python3
"""Hold a listening TCP socket across restarts of a program, as systemd does.

Usage: socket-holder.py PORT -- PROGRAM ARGS...
Binds [::]:PORT (dual stack) and listens. Then reads commands on standard input:
  start  starts PROGRAM with the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID
         set to its own pid (sd_listen_fds(3)); prints "started PID"
  kill   sends SIGKILL to it and waits; prints "killed"
The socket stays open between the two, so the kernel completes handshakes
and queues them while no program runs. Standard library only.
"""
import os
import signal
import socket
import sys

port = int(sys.argv[1])
argv = sys.argv[3:]
sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("::", port))
sock.listen(1024)
print(f"listening on {port}", flush=True)
child = None


def stop(signum, frame):
    # As systemd stops a service: the program goes with the holder.
    if child is not None:
        os.kill(child, signal.SIGTERM)
        os.waitpid(child, 0)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "start":
        child = os.fork()
        if child == 0:
            if sock.fileno() != 3:
                os.dup2(sock.fileno(), 3)
            # Python opens sockets close-on-exec (and dup2 onto itself changes nothing).
            os.set_inheritable(3, True)
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os.execve(argv[0], argv, env)
        print(f"started {child}", flush=True)
    elif cmd == "kill" and child is not None:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        child = None
        print("killed", flush=True)
stop(None, None)
