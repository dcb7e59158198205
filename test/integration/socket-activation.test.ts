// systemd socket activation: the trap socket is bound by systemd (here its
// test tool systemd-socket-activate, which starts the daemon at the first
// connection and passes the socket as fd 3 with LISTEN_FDS/LISTEN_PID).
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { stringify } from "smol-toml";
import { assertDropped, assertServed, assertTrapHit, waitDropped } from "../support/checks.js";
import { CLI_JS, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";

const SOCKET_HOLDER = fileURLToPath(new URL("../support/socket-holder.py", import.meta.url));

test("run uses the sockets systemd passes: the first scanner starts the daemon and is banned", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "systemd-socket-activate"])) return;
  requireBuild();
  const topo = await createTopology(t);
  const dir = await tempDir(t);
  const config = join(dir, "iblock.toml");
  // The listener alone, so the ban can only come through the passed socket.
  await writeFile(config, stringify({ state_dir: join(dir, "state"), trap_ports: [2424], kernel_route: false }));
  const activator = topo.spawn(topo.host, [
    "systemd-socket-activate",
    "-l",
    "0.0.0.0:2424",
    "-E",
    `PATH=${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`,
    process.execPath,
    CLI_JS,
    "run",
    "-c",
    config,
  ]);
  t.after(() => activator.stop("SIGTERM", 5000));
  await activator.waitForLine(/Listening on 0\.0\.0\.0:2424/, 10_000);

  const r = await topo.probe({ src: ADDR.scannerV4, dst: ADDR.hostV4, port: 2424, timeoutMs: 2000 });
  assert.ok(r === "connected" || r === "reset", r);
  await activator.waitForLine(/ready \(/, 20_000);
  await waitDropped(topo, ADDR.scannerV4, undefined, 5000);
  await assertServed(topo, ADDR.otherV4);
  await activator.waitForLine(/blocking 192\.0\.2\.2 \(port 2424\)/, 5000);
  // It bound nothing itself: no "skipped" warning for the passed socket, no second listener.
  assert.ok(!activator.lines.some((l) => /skipped|cannot listen/.test(l)), activator.tail());
});

test("with socket activation a connection made while the daemon is down completes its handshake and is judged when it starts again (listener route)", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "python3"])) return;
  requireBuild();
  const topo = await createTopology(t);
  const dir = await tempDir(t);
  const config = join(dir, "iblock.toml");
  // The listener route: the firewall redirects the trap port to listen_port, which the holder keeps open, as iblock.socket does.
  await writeFile(config, stringify({ state_dir: join(dir, "state"), trap_ports: [445], kernel_route: false, listen_port: 2507 }));
  const holder = topo.spawn(topo.host, ["python3", SOCKET_HOLDER, "2507", "--", process.execPath, CLI_JS, "run", "-c", config], { stdin: true });
  t.after(() => holder.stop("SIGTERM", 5000));
  await holder.waitForLine(/^listening on 2507$/, 10_000);
  const send = (cmd: string): void => void holder.child.stdin?.write(`${cmd}\n`);

  send("start");
  await holder.waitForLine(/ready \(/, 20_000);
  await assertTrapHit(topo, ADDR.scannerV4, 445);
  await waitDropped(topo, ADDR.scannerV4);
  const first = await holder.waitForLine(/blocking 192\.0\.2\.2\b/, 5000);
  // The passed socket is the redirect's target: its port (2507) is not the trap port, which only the kernel knows.
  assert.doesNotMatch(first, /\(port/, first);

  send("kill");
  await holder.waitForLine(/^killed$/, 5000);
  const down = holder.lines.length;
  // No daemon: the kernel completes the handshake on the held socket and queues the connection.
  assert.equal(await topo.probe({ src: ADDR.otherV4, dst: ADDR.hostV4, port: 445, timeoutMs: 2000 }), "connected");
  assert.ok(!holder.lines.slice(down).some((l) => /blocking/.test(l)), holder.tail());

  send("start");
  await holder.waitForLine(/blocking 192\.0\.2\.3\b/, 20_000, down);
  await waitDropped(topo, ADDR.otherV4);
  await assertDropped(topo, ADDR.scannerV4, undefined, "the earlier ban is still in force");
});

test("the default setup (kernel route, listen = redirect) with listen_port passed by systemd: the kernel still answers and bans on the trap ports, daemon up or down", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "python3"])) return;
  requireBuild();
  const topo = await createTopology(t);
  const dir = await tempDir(t);
  const config = join(dir, "iblock.toml");
  await writeFile(config, stringify({ state_dir: join(dir, "state"), trap_ports: [445] }));
  const holder = topo.spawn(topo.host, ["python3", SOCKET_HOLDER, "2507", "--", process.execPath, CLI_JS, "run", "-c", config], { stdin: true });
  t.after(() => holder.stop("SIGTERM", 5000));
  await holder.waitForLine(/^listening on 2507$/, 10_000);
  const send = (cmd: string): void => void holder.child.stdin?.write(`${cmd}\n`);

  send("start");
  await holder.waitForLine(/ready \(.*kernel route on/, 20_000);
  await assertTrapHit(topo, ADDR.scannerV4, 445);
  await waitDropped(topo, ADDR.scannerV4);
  // The kernel's report names the trap port: the trap port held no socket of ours.
  await holder.waitForLine(/blocking 192\.0\.2\.2 \(port 445\)/, 5000);

  send("kill");
  await holder.waitForLine(/^killed$/, 5000);
  assert.equal(await topo.probe({ src: ADDR.otherV4, dst: ADDR.hostV4, port: 445, timeoutMs: 2000 }), "connected");
  await assertDropped(topo, ADDR.otherV4, undefined, "banned by the kernel while the daemon is down");
});
