import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
// Always address/length: ss cannot parse a bare IPv6 address as a filter.
import { prefixKey, type Prefix } from "../net/address.js";
import { run } from "../util/run.js";

// ss joins its arguments into one filter: 500 sources in one takes it 10 ms,
// where a process per 64 meant hundreds of forks of a large node in a storm.
const SS_CHUNK = 500;

/**
 * Forget a banned source's connections: its conntrack entries (one conntrack
 * process for the whole batch, reading delete commands from a file: node's
 * stdin pipes are sockets, which conntrack cannot open as /dev/stdin) and any
 * socket it still holds open to us (`ss -K`, e.g. a session established
 * before the ban).
 */
export async function killLinuxStates(prefixes: readonly Prefix[], commandPrefix: readonly string[] = []): Promise<void> {
  if (prefixes.length === 0) return;
  const errors: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), "iblock-"));
  try {
    const file = join(dir, "conntrack");
    await writeFile(file, prefixes.map((p) => `-D -s ${prefixKey(p)}\n`).join(""), { mode: 0o600 });
    await run([...commandPrefix, "conntrack", "-R", file]).catch((e: Error) => errors.push(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  for (let i = 0; i < prefixes.length; i += SS_CHUNK) {
    const filter = prefixes.slice(i, i + SS_CHUNK).flatMap((p, j) => [...(j ? ["or"] : []), "dst", prefixKey(p)]);
    await run([...commandPrefix, "ss", "-K", "-n", "-t", ...filter]).catch((e: Error) => errors.push(e.message));
  }
  if (errors.length) throw new Error(errors.join("; "));
}
