// /proc/net/tcp as the kernel writes it: listening sockets first, then the
// connections; the read stops at the first connection.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../support/daemon.js";
import { listeningPorts } from "../../src/trap/served-ports.js";

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
const row = (sl: number, local: string, remote: string, state: string): string =>
  `  ${sl}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${1000 + sl} 1 0000000000000000 100 0 0 10 0`;

test("listening ports of tcp and tcp6, read up to the first connection", async (t) => {
  const dir = await tempDir(t);
  const v4 = join(dir, "tcp");
  const v6 = join(dir, "tcp6");
  await writeFile(
    v4,
    [
      HEADER,
      row(0, "00000000:0017", "00000000:0000", "0A"), // 0.0.0.0:23
      row(1, "0100007F:1F90", "00000000:0000", "0A"), // 127.0.0.1:8080
      row(2, "0A00000A:0016", "0B00000A:D431", "01"), // an established connection
      row(3, "00000000:0CEA", "00000000:0000", "0A"), // past the connections: never read
      "",
    ].join("\n"),
  );
  await writeFile(v6, [HEADER, row(0, "00000000000000000000000000000000:01BD", "00000000000000000000000000000000:0000", "0A"), ""].join("\n"));
  assert.deepEqual([...((await listeningPorts([{ path: v4 }, { path: v6, optional: true }])) ?? [])].sort((a, b) => a - b), [23, 445, 8080]);
});

test("a file that cannot be read: undefined, not 'nothing listens'", async (t) => {
  const dir = await tempDir(t);
  assert.equal(await listeningPorts([{ path: join(dir, "missing") }]), undefined);
});

test("a listing longer than one read is read across the chunk boundary", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "tcp");
  const ports = Array.from({ length: 2000 }, (_, i) => 1024 + i);
  await writeFile(file, [HEADER, ...ports.map((p, i) => row(i, `00000000:${p.toString(16).toUpperCase().padStart(4, "0")}`, "00000000:0000", "0A")), ""].join("\n"));
  assert.deepEqual([...((await listeningPorts([{ path: file }])) ?? [])].sort((a, b) => a - b), ports);
});

test("no tcp6 (IPv6 disabled): the IPv4 listing alone, not 'cannot be read'", async (t) => {
  const dir = await tempDir(t);
  const v4 = join(dir, "tcp");
  await writeFile(v4, [HEADER, row(0, "00000000:0017", "00000000:0000", "0A"), ""].join("\n"));
  assert.deepEqual([...((await listeningPorts([{ path: v4 }, { path: join(dir, "tcp6"), optional: true }])) ?? [])], [23]);
});
