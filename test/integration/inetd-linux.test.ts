// inetd mode on Linux as the docs tell it (issue 28): Debian's openbsd-inetd
// runs iblock from the line `iblock setup inetd -c FILE` prints, the trap
// ports reach inetd's listen_port through the redirect of `iblock setup
// nftables | nft -f -` (or of the firewall the first hit sets up), and a user
// nft refuses gets exit 69 at once, with nothing recorded as banned.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, chown, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { assertServed, waitDropped } from "../support/checks.js";
import { CLI_JS, EX, Instance, requireBuild, tempDir, type BanEntry } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, exec } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";
import { startSyslog } from "../support/syslog.js";

const ROOT_PORT = 2507;
const USER_PORT = 2508;
const NOBODY = 65534;
// A source no other case uses (in the scanner namespace via extraV4).
const USER_SCANNER = "192.0.2.7";
const REFUSED_SCANNER = "192.0.2.8";
// Generous: iblock exits well before one nft session timeout (10 s); today's code took two.
const SESSION_TIMEOUT_MS = 10_000;
// Generous bounds for a hit to be banned (several node starts on a busy machine).
const BAN_WAIT_MS = 15_000;

const serviceLines = (conf: string): string[] => conf.split("\n").filter((l) => /^\d/.test(l));
const mode = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8);

test("inetd on Linux, as the docs say", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "inetd", "rsyslogd"])) return;
  requireBuild();
  const topo = await createTopology(t, { extraV4: [USER_SCANNER, REFUSED_SCANNER] });
  const syslog = await startSyslog(t, topo.host);
  // The unprivileged iblock must reach the syslog socket, its config and the program.
  await chmod(dirname(syslog.socket), 0o755);
  await chmod(CLI_JS, 0o755);
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const messages = async (): Promise<string[]> => (await readFile(syslog.messages, "utf8").catch(() => "")).split("\n").filter(Boolean);

  // As root, the recipe's config: iblock bans and records each hit that inetd hands it.
  const root = new Instance(topo.host, join(dir, "root"));
  await root.writeConfig({ syslog_socket: syslog.socket, kernel_route: false, listen_port: ROOT_PORT });
  // A user nft refuses (the man page's unprivileged line, on a host with no doas): its own config and state.
  const user = new Instance(topo.host, join(dir, "user"));
  await user.writeConfig({ syslog_socket: syslog.socket, kernel_route: false, listen_port: USER_PORT });
  await chown(user.stateDir, NOBODY, NOBODY);
  await chmod(user.stateDir, 0o750);
  await chmod(user.configPath, 0o644);

  // The lines `iblock setup inetd -c FILE` prints, as they are; the user's with its user put in.
  const setupInetd = async (inst: Instance): Promise<string> => {
    const r = await exec(topo.host, [process.execPath, CLI_JS, "setup", "inetd", "-c", inst.configPath]);
    return r.stdout;
  };
  const rootConf = await setupInetd(root);
  for (const line of serviceLines(rootConf)) assert.match(line, new RegExp(`^${ROOT_PORT} stream tcp6? nowait root ${CLI_JS} iblock -c ${root.configPath} iblocked$`));
  const userLines = serviceLines(await setupInetd(user)).map((l) => l.replace(" nowait root ", " nowait nobody "));
  const inetdConf = join(dir, "inetd.conf");
  await writeFile(inetdConf, `${rootConf}${userLines.join("\n")}\n`);
  // No IBLOCK_CONFIG in inetd's environment: the line's -c is what names the config.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.IBLOCK_CONFIG;
  const inetd = topo.spawn(topo.host, ["/usr/sbin/inetd", "-d", inetdConf], { env });
  t.after(() => inetd.stop("SIGTERM", 5000));
  await waitUntil(
    async () => {
      const ss = await exec(topo.host, ["ss", "-H", "-l", "-t", "-n"]);
      return [ROOT_PORT, USER_PORT].every((p) => new RegExp(`:${p}\\s`).test(ss.stdout));
    },
    { timeoutMs: 10_000, intervalMs: 50, what: "inetd listening on both ports" },
  );

  await t.test("the recipe: the firewall set up first, a scanner of a trap port is dropped and recorded, the store 0640", async () => {
    const ruleset = await root.cli("setup", ["nftables"]);
    assert.equal(ruleset.code, 0, ruleset.stderr);
    await exec(topo.host, ["nft", "-f", "-"], { input: ruleset.stdout });

    for (const [scanner, dst, banned] of [
      [ADDR.scannerV4, ADDR.hostV4, "192.0.2.2/32"],
      [ADDR.scannerV6, ADDR.hostV6, "2001:db8:0:1::/64"],
    ] as const) {
      await assertServed(topo, scanner, undefined, "before it scans");
      const r = await topo.probe({ src: scanner, dst, port: 23, timeoutMs: 2000 });
      assert.ok(r === "connected" || r === "reset", `trap port 23 from ${scanner}, redirected to inetd: ${r}\n${inetd.tail()}`);
      await waitDropped(topo, scanner, undefined, BAN_WAIT_MS).catch(async (e: Error) => assert.fail(`${e.message}\n${inetd.tail()}\n${(await messages()).join("\n")}`));
      const entry = (await root.list()).find((e: BanEntry) => e.prefix === banned);
      assert.equal(entry?.source, "inetd", `${banned} recorded:\n${JSON.stringify(await root.list())}`);
    }
    await assertServed(topo, ADDR.otherV4, undefined, "an innocent source");
    await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 192\.0\.2\.2$/);
    await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 2001:db8:0:1::\/64$/);
    assert.deepEqual((await messages()).filter((l) => /daemon\.(err|warning)/.test(l)), [], "no error or warning");
    assert.equal(await mode(root.stateDir), "750");
    for (const name of ["iblock.sqlite", "iblock.sqlite-wal", "iblock.sqlite-shm"]) {
      const file = join(root.stateDir, name);
      if (existsSync(file)) assert.equal(await mode(file), "640", name);
    }
  });

  await t.test("the first hit on a fresh host sets up the firewall, with no false alarm, and its redirect works", async () => {
    await exec(topo.host, ["nft", "delete", "table", "inet", "iblock"]);
    const seen = (await messages()).length;
    // Straight to inetd's port: no redirect exists yet.
    const r = await topo.probe({ src: ADDR.otherV6, dst: ADDR.hostV6, port: ROOT_PORT, timeoutMs: 2000 });
    assert.ok(r === "connected" || r === "reset", `inetd's port ${ROOT_PORT} from ${ADDR.otherV6}: ${r}`);
    await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 2001:db8:0:2::\/64$/, BAN_WAIT_MS);
    await waitDropped(topo, ADDR.otherV6, undefined, BAN_WAIT_MS);
    const lines = (await messages()).slice(seen);
    assert.equal(lines.filter((l) => /set up the nftables firewall$/.test(l)).length, 1, lines.join("\n"));
    assert.deepEqual(lines.filter((l) => /daemon\.(err|warning)/.test(l)), [], "no false alarm (a refused ban, listen_port in use by inetd)");
    // The firewall it set up redirects the trap ports to inetd.
    const hit = await topo.probe({ src: ADDR.otherV4, dst: ADDR.hostV4, port: 23, timeoutMs: 2000 });
    assert.ok(hit === "connected" || hit === "reset", `trap port 23 from ${ADDR.otherV4}: ${hit}`);
    await waitDropped(topo, ADDR.otherV4, undefined, BAN_WAIT_MS);
  });

  await t.test("a scanner the store holds banned, whose ban the firewall lost (the table went), is banned again at its next hit", async () => {
    // 192.0.2.2 was banned in the first case; the table it was in was deleted since.
    await assertServed(topo, ADDR.scannerV4, undefined, "its ban is no longer in the firewall");
    const r = await topo.probe({ src: ADDR.scannerV4, dst: ADDR.hostV4, port: 23, timeoutMs: 2000 });
    assert.ok(r === "connected" || r === "reset", `trap port 23 from ${ADDR.scannerV4}: ${r}`);
    await waitDropped(topo, ADDR.scannerV4, undefined, BAN_WAIT_MS);
    await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: 192\.0\.2\.2 is banned in the store and reached the trap: its ban is put \(back\) into the firewall$/);
  });

  await t.test("a ban the firewall refuses after all is not left in the store as banned", async () => {
    // The ban set swapped for one without timeouts: the table checks out, but every timed ban is refused.
    await exec(topo.host, ["nft", "-f", "-"], {
      input: [
        "flush chain inet iblock drop_banned",
        "delete set inet iblock iblocked_v4",
        "add set inet iblock iblocked_v4 { type ipv4_addr; }",
        "add element inet iblock iblocked_v4 { 255.255.255.255 }",
      ].join("\n"),
    });
    const seen = (await messages()).length;
    const mark = inetd.lines.length;
    const r = await topo.probe({ src: REFUSED_SCANNER, dst: ADDR.hostV4, port: 23, timeoutMs: 2000 });
    assert.ok(r === "connected" || r === "reset", `trap port 23 from ${REFUSED_SCANNER}: ${r}`);
    const reaped = await inetd.waitForLine(/^\d+ reaped, status [0-9a-f]+$/, BAN_WAIT_MS, mark);
    assert.equal(Number.parseInt(/status ([0-9a-f]+)$/.exec(reaped)?.[1] ?? "", 16) >> 8, EX.UNAVAILABLE, `${reaped}\n${inetd.tail()}`);
    await syslog.waitFor(/^daemon\.err iblock(\[\d+\])?: could not ban 192\.0\.2\.8: the nftables firewall refused it \(.+\); recorded as not banned$/);
    // One error line: not one per retry of its 2 s, each promising a retry no process will make.
    const errors = (await messages()).slice(seen).filter((l) => l.startsWith("daemon.err"));
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.deepEqual((await root.list()).filter((e) => e.prefix.startsWith(REFUSED_SCANNER)), [], "not listed as banned");
    const shown = await root.cli("show", [REFUSED_SCANNER]);
    assert.match(shown.stdout, /^192\.0\.2\.8: not banned, 1 hit\(s\)/m, shown.stdout + shown.stderr);
  });

  await t.test("a user nft refuses: exit 69 before a session timeout, one clear line, nothing recorded as banned", async () => {
    const seen = (await messages()).length;
    const mark = inetd.lines.length;
    const r = await topo.probe({ src: USER_SCANNER, dst: ADDR.hostV4, port: USER_PORT, timeoutMs: 2000 });
    assert.ok(r === "connected" || r === "reset", `inetd's port ${USER_PORT}: ${r}`);
    // openbsd-inetd -d: "PID reaped, status HEX" (a wait status: the exit code is its second byte).
    const reaped = await inetd.waitForLine(/^\d+ reaped, status [0-9a-f]+$/, SESSION_TIMEOUT_MS, mark);
    const status = Number.parseInt(/status ([0-9a-f]+)$/.exec(reaped)?.[1] ?? "", 16);
    assert.equal(status >> 8, EX.UNAVAILABLE, `${reaped}\n${inetd.tail()}`);
    const line = await syslog.waitFor(/192\.0\.2\.7/);
    assert.match(line, /^daemon\.err iblock(\[\d+\])?: not blocking 192\.0\.2\.7: the nftables firewall cannot be used as uid 65534: .*Operation not permitted/);
    const about = (await messages()).slice(seen).filter((l) => l.includes(USER_SCANNER) || /firewall|nft/.test(l));
    assert.deepEqual(about, [line], "one line says it all");
    // Never recorded: the store was not even made, or holds no ban of it.
    if (existsSync(join(user.stateDir, "iblock.sqlite"))) {
      assert.deepEqual((await user.list()).filter((e) => e.prefix.startsWith(USER_SCANNER)), []);
    }
    await assertServed(topo, USER_SCANNER, undefined, "not banned, and nothing claims it is");
  });
});
