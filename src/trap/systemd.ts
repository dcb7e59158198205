// sd_listen_fds(3): passed sockets start at fd 3.
const SD_LISTEN_FDS_START = 3;

/** The sockets systemd passed us (socket activation), or none. */
export function systemdSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number[] {
  if (Number(env.LISTEN_PID) !== pid) return [];
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n <= 0) return [];
  // Not for our children (nft, logger).
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return Array.from({ length: n }, (_, i) => SD_LISTEN_FDS_START + i);
}
