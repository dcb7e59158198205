import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { openPipeline, withReader } from "./bans/pipeline.js";
import { loadConfig, type Config } from "./config.js";
import { askDaemon } from "./control/client.js";
import type { DaemonStatus, ShowView } from "./control/operations.js";
import { Operations } from "./control/operations.js";
import type { Request } from "./control/protocol.js";
import { EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE, IblockError, usageError } from "./errors.js";
import { Logger } from "./log.js";
import { parsePrefix } from "./net/address.js";
import { policyFor } from "./policy/policy.js";
import { ensurePath } from "./env-path.js";
import { doctor } from "./setup/doctor.js";
import { MUNIN_CONFIG, MUNIN_UNKNOWN, muninValue } from "./setup/munin.js";
import { parseDuration } from "./policy/duration.js";
import { PRIVILEGED_TARGETS, SETUP_TARGETS } from "./setup/targets.js";
import { changeableByOthers, programFiles } from "./setup/trusted-path.js";
import { runningProgram } from "./setup/program-path.js";
import { teardown } from "./setup/teardown.js";
import { sshguardBackend } from "./commands/sshguard-backend.js";
import type { Stats } from "./store/store.js";
import { waitForStartingDaemon } from "./control/wait.js";
import { runInetd } from "./inetd.js";
import { stdinTcpSocket } from "./trap/stdin-socket.js";
import { readImport, sendInBatches } from "./commands/import.js";
import { exportBans, listBans } from "./commands/list.js";
import { top } from "./commands/top.js";
import { feedsCommand } from "./commands/feeds.js";
import { clusterStatus } from "./commands/cluster.js";
import { formatShow, formatStats } from "./commands/format.js";
import { unknownCommand } from "./commands/unknown-command.js";
import { printable, printableJson } from "./printable.js";

const log = new Logger();

// Loaded only by `run`: the daemon brings the HTTP server and the Redis client,
// which every other command (munin every five minutes, inetd per connection) would pay for.
const daemonModule = (): Promise<typeof import("./daemon.js")> => import("./daemon.js");

interface CommonOptions {
  config?: string;
}

function configOf(cmd: Command, overrides: Record<string, unknown> = {}): Config {
  const { config } = cmd.optsWithGlobals<CommonOptions>();
  return loadConfig({ file: config, overrides });
}

/**
 * With no daemon running, the CLI does the daemon's job for one request:
 * same Operations, same queue, on the store and firewall directly. Only a
 * change needs the firewall set up; reading the store does not.
 */
async function offline<T>(config: Config, fn: (ops: Operations) => Promise<T> | T, changes = false): Promise<T> {
  const pipeline = await openPipeline(config, log, { mode: changes ? "offline-change" : "offline-read" });
  try {
    return await fn(new Operations(pipeline.store, pipeline.queue, pipeline.policy, config.ban_time));
  } finally {
    await pipeline.drain(2_000);
    await pipeline.close();
  }
}

/** Through the daemon when it runs, else directly; never directly while a daemon holds the state dir. */
async function perform(config: Config, req: Request, direct: (ops: Operations) => unknown, changes = false): Promise<unknown> {
  const viaDaemon = await askDaemon(config.control_socket, req);
  if (viaDaemon !== undefined) return viaDaemon;
  const starting = await waitForStartingDaemon(config, req);
  return starting !== undefined ? starting : offline(config, direct, changes);
}

const positiveInt = (v: string): number => {
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("expected a whole number, 1 or more");
  return Number(v);
};

/** "1h" (that long ago) or an ISO 8601 date, as ms since the epoch. */
const sinceOption = (v: string): number => {
  const ago = parseDuration(v);
  if (ago !== undefined && ago !== Infinity) return Date.now() - ago;
  const at = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError('expected a duration ("1h", "7d") or a date (2026-11-25, 2026-11-25T10:00:00Z)');
  return at;
};

/** `iblock import`: read and check the whole file first, then ban in batches, through the daemon when it runs. */
async function importFile(config: Config, file: string, opts: { reason?: string; time?: string; force?: boolean }): Promise<void> {
  const policy = policyFor(config);
  const started = Date.now();
  const force = opts.force === true;
  const { prefixes, counts } = await readImport(file, policy, { force });
  const viaDaemon = (await askDaemon(config.control_socket, { cmd: "ping" })) ?? (await waitForStartingDaemon(config, { cmd: "ping" }));
  const imported =
    viaDaemon !== undefined
      ? await sendInBatches(prefixes, async (batch, last, soFar) => {
          const answer = await askDaemon(config.control_socket, { cmd: "import", prefixes: batch, reason: opts.reason, time: opts.time, last, force });
          if (answer === undefined) throw new IblockError(`the daemon went away during the import after ${soFar()} ban(s); run it again to import the rest`, EX_UNAVAILABLE);
          return answer as { imported: number };
        })
      : await offline(config, (ops) => sendInBatches(prefixes, (batch, last) => ops.importBatch(batch, opts.reason, opts.time, { last, force })), true);
  const refused = counts.malformed + counts.allowed + counts.tooWide + counts.host;
  process.stdout.write(
    `imported ${imported} ban(s) from ${counts.lines} line(s) in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `${counts.valid - imported} already banned, ${counts.duplicate} duplicate, refused ${counts.malformed} malformed, ${counts.allowed} allowed, ${counts.tooWide} too wide, ${counts.host} this host's\n`,
  );
  for (const e of counts.examples) process.stderr.write(`iblock: refused ${printable(e)}\n`);
  if (refused > 0 && imported === 0 && counts.valid === 0) throw new IblockError(`nothing to import from ${file}`, EX_DATAERR);
}


export function program(): Command {
  const configOption = (): Option => new Option("-c, --config <file>", "config file (default $IBLOCK_CONFIG or /etc/iblock.toml)");
  const p = new Command("iblock")
    .description("Ban in the host firewall whoever connects to a TCP port nobody serves")
    .addOption(configOption())
    .version(packageVersion(), "-V, --version")
    .showHelpAfterError()
    .exitOverride();

  const sub = (name: string, description: string): Command => p.command(name).description(description).addOption(configOption());

  sub("run", "run the daemon in the foreground")
    .option("--syslog", "also log to syslog (facility daemon, tag iblock)")
    .action(async (opts: { syslog?: boolean }, cmd: Command) => {
      const overrides = opts.syslog ? { syslog: true } : {};
      await (await daemonModule()).runDaemon(configOf(cmd, overrides), log, () => configOf(cmd, overrides));
    });

  sub("ban", "ban an address or CIDR now")
    .argument("<address>", "e.g. 203.0.113.7 or 198.51.100.0/24")
    .option("--reason <text>", "why, kept in the store")
    .option("--time <duration>", 'how long: "90s", "15m", "24h", "7d" or "permanent" (default ban_time)')
    .option("--local", "not shared with the fleet ([cluster]): recorded with source \"local\"")
    .option("--force", "wider than max_manual_v4/max_manual_v6 (never over this host's own addresses, gateways or resolvers)")
    .action(async (address: string, opts: { reason?: string; time?: string; local?: boolean; force?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const force = opts.force === true;
      // Only parsed here: the daemon (or, with none running, the same Operations
      // run by the CLI) decides width, allow list and host, and its refusal is the error shown.
      parsePrefix(address);
      if (opts.time !== undefined && parseDuration(opts.time) === undefined) {
        throw usageError(`--time ${JSON.stringify(opts.time)}: expected e.g. 90s, 15m, 24h, 7d or permanent`);
      }
      const local = opts.local === true;
      const req = { cmd: "ban" as const, address, reason: opts.reason, time: opts.time, local, force };
      const shown = await perform(config, req, (ops) => ops.ban(address, opts.reason, opts.time, { local, force }), true);
      process.stdout.write(`banned ${String(shown)}\n`);
    });

  sub("unban", "lift the ban on an address or CIDR")
    .argument("<address>")
    .action(async (address: string, _opts: unknown, cmd: Command) => {
      const config = configOf(cmd);
      parsePrefix(address);
      const res = (await perform(config, { cmd: "unban", address }, (ops) => ops.unban(address), true)) as { prefix: string; was_banned: boolean };
      process.stdout.write(res.was_banned ? `unbanned ${res.prefix}\n` : `${res.prefix} was not banned\n`);
    });

  sub("list", "list the bans in force, oldest first (read from the store, daemon or not)")
    .option("--json", "as one JSON array (times in UTC, ISO 8601), for scripts")
    .option("--utc", "times in UTC rather than local time")
    .option("--limit <n>", "at most this many", (v: string) => positiveInt(v))
    .option("--since <when>", 'bans that started within this long ("1h", "7d") or since this date (ISO 8601)', (v: string) => sinceOption(v))
    .action(async (opts: { json?: boolean; utc?: boolean; limit?: number; since?: number }, cmd: Command) => {
      await listBans(configOf(cmd), opts);
    });

  sub("stats", "counts: bans in force, bans in the last 24 h, top trap ports")
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      // How the daemon is doing from the daemon; the counts from the store, read here.
      const status = ((await askDaemon(config.control_socket, { cmd: "stats" })) ?? {}) as { daemon?: DaemonStatus };
      const counts: Stats = withReader(config, (store) => store.stats());
      const s = { ...counts, ...status };
      if (opts.json) process.stdout.write(printableJson(s, 2) + "\n");
      else process.stdout.write(formatStats(s));
    });

  sub("top", "what hit the host lately, refreshed: bans and hits per minute, top trap ports, latest bans (from the store, daemon or not)")
    .option("--once", "print one screen and exit (the default when standard output is not a terminal)")
    .option("--interval <duration>", 'between screens ("2s")', (v: string) => {
      const ms = parseDuration(v);
      if (ms === undefined || ms === Infinity || ms < 500) throw usageError(`--interval ${JSON.stringify(v)}: expected a duration of at least 500 ms, e.g. 2s`);
      return ms;
    })
    .option("--minutes <n>", "how far back the summary looks (default 15)", (v: string) => positiveInt(v))
    .action(async (opts: { once?: boolean; interval?: number; minutes?: number }, cmd: Command) => {
      await top(configOf(cmd), { once: opts.once, intervalMs: opts.interval ?? 2000, minutes: Math.min(opts.minutes ?? 15, 24 * 60) });
    });

  sub("show", "the history of an address or prefix: bans, hits, ports, when it ends")
    .argument("<address>")
    .option("--json", "as JSON")
    .action(async (address: string, opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      parsePrefix(address);
      const view = (await perform(config, { cmd: "show", address }, (ops) => ops.show(address))) as ShowView;
      if (opts.json) process.stdout.write(printableJson(view, 2) + "\n");
      else process.stdout.write(formatShow(view));
    });

  sub("cluster", "the fleet of hosts sharing bans through Redis ([cluster])")
    .command("status")
    .description("Redis reachable, lag, peers seen recently and their last ban, outbox size")
    .addOption(configOption())
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await clusterStatus(configOf(cmd), opts.json === true);
    });

  sub("doctor", "check the setup and explain what is wrong; exits 1 on any problem")
    .action(async (_opts: unknown, cmd: Command) => {
      const findings = await doctor(configOf(cmd));
      for (const f of findings) process.stdout.write(`${f.ok ? "ok     " : "PROBLEM"} ${printable(f.what)}\n`);
      const problems = findings.filter((f) => !f.ok).length;
      if (problems) throw new IblockError(`${problems} problem(s) found`, 1);
    });

  sub("export", "print the bans in force: a PF persist file, or a blocklist to publish")
    .addOption(new Option("--format <format>", "txt: one address or prefix a line; json: full records").choices(["txt", "json"]).default("txt"))
    .action(async (opts: { format: "txt" | "json" }, cmd: Command) => {
      await exportBans(configOf(cmd), opts.format);
    });

  sub("import", "ban every address or CIDR of a file (export's format, a PF persist file, a published list); - for standard input")
    .argument("<file>")
    .option("--reason <text>", "why, kept in the store")
    .option("--time <duration>", 'how long: "90s", "15m", "24h", "7d" or "permanent" (default ban_time)')
    .option("--force", "take lines wider than max_manual_v4/max_manual_v6 (never over this host's own addresses, gateways or resolvers)")
    .action(async (file: string, opts: { reason?: string; time?: string; force?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      if (opts.time !== undefined && parseDuration(opts.time) === undefined) {
        throw usageError(`--time ${JSON.stringify(opts.time)}: expected e.g. 90s, 15m, 24h, 7d or permanent`);
      }
      await importFile(config, file, opts);
    });

  p.addCommand(feedsCommand(configOption, configOf));

  sub("sshguard-backend", "sshguard's firewall backend (BACKEND in sshguard.conf): reads its block and release lines on standard input")
    .option("--time <duration>", 'how long a ban lasts if sshguard never releases it: "90s", "15m", "24h", "7d" or "permanent" (default permanent)')
    .action(async (opts: { time?: string }, cmd: Command) => {
      if (opts.time !== undefined && parseDuration(opts.time) === undefined) {
        throw usageError(`--time ${JSON.stringify(opts.time)}: expected e.g. 90s, 15m, 24h, 7d or permanent`);
      }
      await sshguardBackend(configOf(cmd), opts.time ?? "permanent", log);
    });

  sub("munin", "munin plugin: `iblock munin config` describes the graph, `iblock munin` gives the count")
    .argument("[mode]", '"config" for the graph description')
    .action((mode: string | undefined, _opts: unknown, cmd: Command) => {
      if (mode === "config") {
        process.stdout.write(MUNIN_CONFIG);
        return;
      }
      if (mode !== undefined) throw usageError(`munin: unknown mode ${JSON.stringify(mode)} (expected "config" or nothing)`);
      let active: number;
      try {
        active = countBansReadOnly(configOf(cmd));
      } catch (e) {
        // munin's "unknown": a gap in the graph, never a quiet host drawn as 0 bans.
        process.stdout.write(MUNIN_UNKNOWN);
        throw e;
      }
      process.stdout.write(muninValue({ active }));
    });

  sub("teardown", "take iblock's table out of the firewall (stop the daemon first); says what is left: store, units, config")
    .action(async (_opts: unknown, cmd: Command) => {
      process.stdout.write(await teardown(configOf(cmd)));
    });

  sub("setup", `print a ready-made file for this config: ${Object.keys(SETUP_TARGETS).join(", ")}`)
    .argument("<target>")
    .action((target: string, _opts: unknown, cmd: Command) => {
      const make = SETUP_TARGETS[target];
      if (!make) throw usageError(`setup: unknown target ${JSON.stringify(target)} (expected one of ${Object.keys(SETUP_TARGETS).join(", ")})`);
      const config = configOf(cmd);
      process.stdout.write(make(config));
      if (PRIVILEGED_TARGETS.has(target)) {
        const files = [
          ...programFiles(runningProgram()).map((file) => ({ what: "the program", file })),
          { what: "node", file: process.execPath },
          ...(config.source === "defaults" ? [] : [{ what: "the config", file: config.source }]),
        ];
        for (const { what, file } of files) {
          const why = changeableByOthers(file);
          if (why) log.warn(`setup ${target}: what it prints runs iblock with root's rights; ${what} ${file} is not root's alone (${why}): whoever can change it can run commands as root. Install iblock and its config as root's (docs/security.md)`);
        }
      }
    });

  // The original's ways, without a subcommand: `iblock [TABLE]` under inetd,
  // `iblock -t TABLE -p PORT` as the later daemon behind rdr-to.
  p.argument("[table]", "inetd mode: the table to add the peer of standard input to")
    .option("-t, --table <table>", "daemon: the table (or nftables set) name", (v: string) => {
      // `-t -c FILE` would otherwise name the table "-c".
      if (v.startsWith("-")) throw new InvalidArgumentError(`expected a table name, got the option ${JSON.stringify(v)}`);
      return v;
    })
    .option("-p, --port <port>", "daemon: listen on PORT for the connections the firewall redirects", (v: string) => {
      if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new InvalidArgumentError("expected a port number, 1-65535");
      return v;
    })
    .action(async (table: string | undefined, opts: { table?: string; port?: string }, cmd: Command) => {
      if (opts.table !== undefined || opts.port !== undefined) {
        const overrides: Record<string, unknown> = { listen: "redirect" };
        if (opts.table !== undefined) overrides.table = opts.table;
        if (opts.port !== undefined) overrides.listen_port = Number(opts.port);
        await (await daemonModule()).runDaemon(configOf(cmd, overrides), log, () => configOf(cmd, overrides));
        return;
      }
      const socket = stdinTcpSocket();
      // Not under inetd, "help" asks for it, as with --help; another word that is no command is a typo, not a table name.
      if (!socket && table === "help") return void process.stdout.write(p.helpInformation());
      if (!socket && table !== undefined) throw unknownCommand(table, p.commands.map((c) => c.name()));
      if (!socket) {
        process.stderr.write(cmd.helpInformation());
        throw new IblockError("run by inetd (standard input a TCP socket), or give a command", 1);
      }
      // stdout and stderr are the scanner's socket: log to syslog only.
      const quiet = new Logger(() => undefined);
      const config = configOf(cmd, table !== undefined ? { table } : {});
      quiet.enableSyslog({ socket: config.syslog_socket });
      const code = await runInetd(socket, config, quiet);
      await quiet.close();
      if (code !== 0) throw new IblockError("", code);
    });

  return p;
}


/** The version in package.json (dist/bin/main.cjs and src/cli.ts both find it). */
function packageVersion(): string {
  for (const rel of ["../../package.json", "../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "iblock" && pkg.version) return pkg.version;
    } catch {
      /* try the next place */
    }
  }
  return "unknown";
}



/** Read-only, so munin's unprivileged user can run it; a store it cannot read is an error, not 0. */
function countBansReadOnly(config: Config): number {
  return withReader(config, (store) => store.countActive());
}

export async function main(argv: readonly string[]): Promise<number> {
  // Before anything spawns nft, ss, conntrack, logger or pfctl (inetd passes no PATH).
  ensurePath();
  try {
    await program().parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EX_USAGE;
    if (e instanceof IblockError) {
      if (e.message) log.error(e.message);
      return e.exitCode;
    }
    log.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return EX_SOFTWARE;
  }
}
