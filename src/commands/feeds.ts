import { Command, type Option } from "commander";
import type { Config } from "../config.js";
import { askDaemon } from "../control/client.js";
import { EX_UNAVAILABLE, IblockError, unavailableError } from "../errors.js";
import type { FailedFetch } from "../feeds/feeds.js";
import { FeedStore } from "../feeds/state.js";
import { feedView, formatFeeds, type FeedView } from "../feeds/view.js";
import { printable, printableJson } from "../printable.js";
import { withReader } from "../bans/pipeline.js";

type ConfigOf = (cmd: Command) => Config;

/** With no daemon: what the store says of each configured feed (no next fetch). */
function storedViews(config: Config): FeedView[] {
  return withReader(config, (store) => {
    let rows: FeedStore | undefined;
    try {
      rows = new FeedStore(store);
    } catch {
      rows = undefined; // a store from before feeds: nothing fetched yet
    }
    return config.feed.map((f) => feedView(f, rows?.get(f.name), undefined));
  });
}

function print(result: unknown, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(printableJson(result, 2) + "\n");
    return;
  }
  const r = result as { feeds?: FeedView[]; still_running?: boolean; applied?: boolean; status?: string };
  if (r.still_running) process.stdout.write("still fetching; see `iblock feeds` for how it went\n");
  else if (r.feeds) process.stdout.write(formatFeeds(r.feeds));
  else process.stdout.write(`${r.applied ? "applied" : "not applied"}: ${printable(r.status ?? "")}\n`);
}

/** `iblock feeds`, `iblock feeds refresh [NAME]`, `iblock feeds accept NAME`. */
export function feedsCommand(configOption: () => Option, configOf: ConfigOf): Command {
  const feeds = new Command("feeds")
    .description("published blocklists ([[feed]]): last fetch, status, entries, refused lines, next fetch, anything held back")
    .addOption(configOption())
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const answer = await askDaemon(config.control_socket, { cmd: "feeds", action: "list" });
      print(answer ?? { feeds: storedViews(config) }, opts.json);
    });
  // --json may come before or after the subcommand: the parent takes it when it comes first.
  const ask = async (cmd: Command, action: "refresh" | "accept", name: string | undefined): Promise<void> => {
    const config = configOf(cmd);
    const { json } = cmd.optsWithGlobals<{ json?: boolean }>();
    const answer = await askDaemon(config.control_socket, { cmd: "feeds", action, name });
    if (answer === undefined) throw unavailableError("feeds are fetched by the daemon, and it is not running");
    print(answer, json);
    // The views are printed all the same; a script or a cron mail learns from the exit code that a list is stale.
    const failed = (answer as { failed?: FailedFetch[] }).failed ?? [];
    // A line each; the status holds the server's own words (its HTTP reason phrase): escaped.
    for (const f of failed) process.stderr.write(printable(`iblock: error: feed ${f.name}: ${f.status}`) + "\n");
    if (failed.length > 0) throw new IblockError("", EX_UNAVAILABLE);
  };
  feeds
    .command("refresh")
    .description("fetch every feed now, or only NAME, and apply it")
    .argument("[name]")
    .addOption(configOption())
    .option("--json", "as JSON")
    .action((name: string | undefined, _opts: unknown, cmd: Command) => ask(cmd, "refresh", name));
  feeds
    .command("accept")
    .description("apply the list of feed NAME that was held back because it shrank by more than half or grew more than tenfold")
    .argument("<name>")
    .addOption(configOption())
    .option("--json", "as JSON")
    .action((name: string, _opts: unknown, cmd: Command) => ask(cmd, "accept", name));
  return feeds;
}
