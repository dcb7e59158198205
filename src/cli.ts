#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { BanQueue } from "./bans/queue.js";
import { loadConfig, type Config } from "./config.js";
import { askDaemon } from "./control/client.js";
import { Operations } from "./control/operations.js";
import type { Request } from "./control/protocol.js";
import { runDaemon } from "./daemon.js";
import { EX_SOFTWARE, EX_USAGE, IblockError, unavailableError } from "./errors.js";
import { makeFirewall } from "./firewall/registry.js";
import { Logger } from "./log.js";
import { parsePrefix } from "./policy/address.js";
import { AllowList } from "./policy/allow.js";
import { Policy } from "./policy/policy.js";
import { Store, type Stats } from "./store/store.js";

const log = new Logger();

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
  const store = new Store(config.database);
  const firewall = makeFirewall(config);
  const queue = new BanQueue(store, firewall, log);
  try {
    if (changes) {
      await firewall.setup().catch((e: Error) => {
        throw unavailableError(`cannot set up the ${firewall.name} firewall: ${e.message}`);
      });
    }
    const policy = new Policy(new AllowList(config.allow), { ipv4: config.ipv4_prefix, ipv6: config.ipv6_prefix });
    return await fn(new Operations(store, queue, policy));
  } finally {
    await queue.drain(2_000);
    queue.close();
    await firewall.close?.();
    store.close();
  }
}

/** Through the daemon when it runs, else directly. */
async function perform(config: Config, req: Request, direct: (ops: Operations) => unknown, changes = false): Promise<unknown> {
  const viaDaemon = await askDaemon(config.control_socket, req);
  return viaDaemon !== undefined ? viaDaemon : offline(config, direct, changes);
}

function printStats(s: Stats): void {
  const ports = s.top_ports.map((p) => `${p.port} (${p.hits})`).join(", ") || "none";
  process.stdout.write(`active bans: ${s.active}\nbans in the last 24 h: ${s.bans_last_24h}\ntop trap ports (24 h): ${ports}\n`);
}

export function program(): Command {
  const configOption = (): Option => new Option("-c, --config <file>", "config file (default $IBLOCK_CONFIG or /etc/iblock.toml)");
  const p = new Command("iblock")
    .description("Ban in the host firewall whoever connects to a TCP port nobody serves")
    .addOption(configOption())
    .showHelpAfterError()
    .exitOverride();

  const sub = (name: string, description: string): Command => p.command(name).description(description).addOption(configOption());

  sub("run", "run the daemon in the foreground")
    .option("--syslog", "also log to syslog (facility daemon, tag iblock)")
    .action(async (opts: { syslog?: boolean }, cmd: Command) => {
      const config = configOf(cmd, opts.syslog ? { syslog: true } : {});
      process.on("uncaughtException", (e) => log.error(`unexpected: ${e.stack ?? String(e)}`));
      await runDaemon(config, log);
    });

  sub("ban", "ban an address or CIDR now")
    .argument("<address>", "e.g. 203.0.113.7 or 198.51.100.0/24")
    .option("--reason <text>", "why, kept in the store")
    .action(async (address: string, opts: { reason?: string }, cmd: Command) => {
      const config = configOf(cmd);
      parsePrefix(address); // refuse a bad address before anything is touched
      const shown = await perform(config, { cmd: "ban", address, reason: opts.reason }, (ops) => ops.ban(address, opts.reason), true);
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

  sub("list", "list the bans in force")
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const bans = (await perform(config, { cmd: "list" }, (ops) => ops.list())) as ReturnType<Operations["list"]>;
      if (opts.json) process.stdout.write(JSON.stringify(bans, null, 2) + "\n");
      else for (const b of bans) process.stdout.write(`${b.prefix}\t${b.first_seen}\tport ${b.port ?? "-"}\t${b.hits} hit(s)\t${b.source}${b.reason ? `\t${b.reason}` : ""}\n`);
    });

  sub("stats", "counts: bans in force, bans in the last 24 h, top trap ports")
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const s = (await perform(config, { cmd: "stats" }, (ops) => ops.stats())) as Stats;
      if (opts.json) process.stdout.write(JSON.stringify(s, null, 2) + "\n");
      else printStats(s);
    });

  return p;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EX_USAGE;
    if (e instanceof IblockError) {
      log.error(e.message);
      return e.exitCode;
    }
    log.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return EX_SOFTWARE;
  }
}

process.exitCode = await main(process.argv.slice(2));
