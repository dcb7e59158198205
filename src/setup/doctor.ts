import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { runningDaemon } from "../control/running.js";
import type { Config } from "../config.js";
import { DEFAULT_PATH, findProgram } from "../env-path.js";
import { makeFirewall } from "../firewall/registry.js";
import { run } from "../util/run.js";
import { formatPrefix, peerPrefix } from "../net/address.js";
import { policyFor } from "../policy/policy.js";
import { hostAddresses, SYSTEM_SOURCES } from "../policy/host-addresses.js";
import { describeOwners, listServedPorts, servedPorts } from "../trap/served-ports.js";
import { openReader } from "../bans/pipeline.js";
import { NoStoreError } from "../bans/store-access.js";
import type { Firewall } from "../firewall/firewall.js";
import { secretFileFindings } from "./doctor-secrets.js";
import { inetdSetup } from "./doctor-inetd.js";
import { missingBans } from "./missing-bans.js";
import { describeForwards, listForwardedTrapPorts } from "../firewall/nft-forwards.js";
import { EX_NOPERM, IblockError } from "../errors.js";
import type { Finding } from "./finding.js";

/** The user name owning `path` (from /etc/passwd), or its uid; undefined when it cannot be read. */
function ownerOf(path: string): string | undefined {
  try {
    const uid = statSync(path).uid;
    const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.split(":")[2] === String(uid));
    return line?.split(":")[0] ?? `uid ${uid}`;
  } catch {
    return undefined;
  }
}

/** Why no daemon answered, in words an admin can act on. */
function askProblem(socket: string, e: Error | undefined): string {
  if (e === undefined) return `no daemon answers on ${socket}; start it with "iblock run"`;
  if (e instanceof IblockError && e.exitCode === EX_NOPERM) {
    const owner = ownerOf(socket);
    return `permission denied on the control socket ${socket}: run as root${owner && owner !== "root" ? ` (or as ${owner}, its owner)` : ""}`;
  }
  return `the daemon does not answer on ${socket}: ${e.message}`;
}

/** The address an SSH session comes from: a trap hit from it would lock its owner out. */
function sshClient(env: NodeJS.ProcessEnv): string | undefined {
  return (env.SSH_CLIENT ?? env.SSH_CONNECTION)?.split(" ")[0];
}

/** The store's bans in force against the firewall's elements: a count of the missing, and a few of them. */
async function compareBans(config: Config, firewall: Firewall, say: (ok: boolean, what: string) => void): Promise<void> {
  let store;
  try {
    store = openReader(config);
  } catch (e) {
    // No store yet (the daemon never ran): no ban to miss.
    if (e instanceof NoStoreError) return;
    say(false, `cannot read the store to compare it with the firewall: ${(e as Error).message}`);
    return;
  }
  try {
    const m = await missingBans(store, firewall);
    if (m.missing === 0) say(true, `the firewall holds all ${m.stored} ban(s) in force of the store`);
    else {
      const more = m.missing > m.examples.length ? ", ..." : "";
      say(false, `${m.missing} of ${m.stored} ban(s) in force in the store are missing from the firewall (${m.examples.join(", ")}${more}): (re)start the daemon, which puts every stored ban back at start (its periodic check sees a missing table or set, not a missing element)`);
    }
  } catch (e) {
    say(false, `cannot compare the store's bans with the firewall: ${(e as Error).message}`);
  } finally {
    store.close();
  }
}

/** Check what can go wrong on a real host, and say how to fix it. */
export async function doctor(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<Finding[]> {
  const found: Finding[] = [{ ok: true, what: `config ${config.source} is valid` }];
  const say = (ok: boolean, what: string): void => void found.push({ ok, what });
  const policy = policyFor(config);

  // The daemon, and its pid: its own trap listeners are not "a service on a trap port".
  const daemon = await runningDaemon(config);
  const holder = daemon.pid;
  const denied = daemon.askError instanceof IblockError && daemon.askError.exitCode === EX_NOPERM;
  // Without a daemon, inetd may be how iblock runs here: then none is normal.
  const inetd = holder === undefined ? inetdSetup(config, await listServedPorts()) : undefined;
  if (daemon.answers) say(true, `daemon running (pid ${holder})`);
  else if (holder !== undefined && !denied) {
    say(false, `the daemon (pid ${holder}) holds state_dir ${config.state_dir} but does not answer on ${config.control_socket} yet (starting?)`);
  } else if (inetd) say(inetd.ok, inetd.what);
  else say(false, askProblem(config.control_socket, daemon.askError));
  found.push(...secretFileFindings(config, env));

  // The programs iblock runs, found as it will find them (PATH, or the default one when none is set).
  const programs = [
    ...config.command_prefix.slice(0, 1),
    ...(config.firewall === "nftables" ? ["nft", "conntrack", "ss"] : config.firewall === "pf" ? [config.pfctl] : []),
    ...(config.syslog ? ["logger"] : []),
  ];
  for (const name of programs) {
    const path = findProgram(name, env);
    say(path !== undefined, path ? `${name} is ${path}` : `${name} is not found on PATH (${env.PATH || DEFAULT_PATH}): install it or fix PATH`);
  }

  const firewall = makeFirewall(config);
  if (config.firewall === "nftables") {
    const probe = await run([...config.command_prefix, "nft", "list", "tables"]).then(
      () => undefined,
      (e: Error) => e.message,
    );
    say(!probe, probe ? `nft is not usable with our privileges: ${probe}` : "nft works with our privileges");
    if (!probe) {
      const intact = (await firewall.check(() => 0).catch(() => "missing")) === "intact";
      say(intact, intact ? "table inet iblock, its drop rule and ban sets are in place" : 'table inet iblock or its rules are missing or a ban set was flushed; the daemon repairs it (or run "iblock run")');
      if (intact) await compareBans(config, firewall, say);
      const forwards = await listForwardedTrapPorts(config.command_prefix, config.trap_ports);
      const lines = forwards ? describeForwards(forwards) : ["cannot read the nftables ruleset to look for DNAT rules that forward trap ports"];
      for (const line of lines) say(false, line);
      // iptables-legacy rules are not in nftables' listing: say only what was read.
      if (lines.length === 0) say(true, "no nftables DNAT rule forwards a trap port elsewhere (iptables-legacy rules are not seen)");
    }
  } else if (config.firewall === "pf") {
    const show = await run([...config.command_prefix, config.pfctl, "-t", config.table, "-T", "show"]).then(
      () => undefined,
      (e: Error) => e.message,
    );
    say(!show, show ? `pfctl is not usable: ${show} (doas rule? see "iblock setup doas")` : `pfctl works and table <${config.table}> can be read`);
    if (!show) await compareBans(config, firewall, say);
    const rules = await run([...config.command_prefix, config.pfctl, "-sr"]).catch(() => ({ stdout: "" }));
    const blocks = rules.stdout.split("\n").some((l) => l.startsWith("block") && l.includes(`from <${config.table}>`));
    say(blocks, blocks ? `pf.conf blocks <${config.table}>` : `no "block ... from <${config.table}>" rule in pfctl -sr: bans would not drop anything (see "iblock setup pf")`);
  } else {
    say(true, 'firewall "none": bans are logged and recorded only');
  }
  await firewall.close?.();

  const served = await servedPorts(typeof holder === "number" ? holder : process.pid);
  const trapped = config.trap_ports.filter((p) => served.has(p));
  // ss names the processes of other users to root only: what it cannot name may be the daemon's own listeners.
  const unnamed = process.getuid?.() !== 0 ? trapped.filter((p) => served.get(p)?.length === 0) : [];
  for (const p of trapped) {
    if (unnamed.includes(p)) continue;
    say(false, `trap port ${p} is served by ${describeOwners(served.get(p) ?? [])}: trapping it would ban that service's clients; remove it from trap_ports`);
  }
  if (unnamed.length) say(false, `cannot tell what listens on trap port(s) ${unnamed.join(", ")} (iblock's own listeners, or a service): ss names other users' processes to root only; run doctor as root`);
  if (trapped.length === 0) say(true, "no local service listens on a trap port");

  const ssh = sshClient(env);
  const sshPeer = peerPrefix(ssh);
  if (sshPeer) {
    const allowed = policy.allow.match(sshPeer);
    say(allowed !== undefined, allowed ? `your SSH address ${formatPrefix(sshPeer)} is in the allow list` : `your SSH address ${formatPrefix(sshPeer)} is not in "allow": one connection from it to a trap port would lock you out`);
  }

  try {
    mkdirSync(config.state_dir, { recursive: true });
    accessSync(config.state_dir, constants.W_OK);
    say(true, `state_dir ${config.state_dir} is writable`);
  } catch (e) {
    say(false, `state_dir ${config.state_dir} is not writable: ${(e as Error).message}`);
  }

  if (config.catch_syn_scans) {
    // The same facts a ban is checked against: a ban never covers them, but a
    // forged SYN from one of them is a trap hit on that very address.
    for (const h of hostAddresses()) {
      if (h.role === "address" || policy.allow.match(h.prefix)) continue;
      say(false, `catch_syn_scans is on and ${formatPrefix(h.prefix)} (${h.role}, from ${h.from}) is not in "allow": a forged SYN from it would cut this host off`);
    }
  }
  if (!existsSync(SYSTEM_SOURCES.routeV4)) {
    say(!config.catch_syn_scans, `no ${SYSTEM_SOURCES.routeV4} here (not Linux): bans are not checked against the default gateway, which iblock cannot see; put it in "allow"`);
  }
  return found;
}
