// A real syslog daemon (rsyslogd) on a socket of the test's choosing, writing
// everything it receives to a file as "FACILITY.SEVERITY TAG: MESSAGE".
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { spawnIn } from "./netns.js";
import { run, waitUntil } from "./proc.js";
import { tempDir } from "./daemon.js";

export interface Syslog {
  socket: string;
  messages: string;
  /** Wait until the messages file has a line matching `re`; returns that line. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

export async function startSyslog(t: TestContext, ns: string): Promise<Syslog> {
  const dir = await tempDir(t, "iblock-syslog-");
  const socket = join(dir, "log.sock");
  const messages = join(dir, "messages");
  const conf = join(dir, "rsyslog.conf");
  await writeFile(
    conf,
    `global(workDirectory="${dir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${socket}")
template(name="facility" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\n")
*.* action(type="omfile" file="${messages}" template="facility")
`,
  );
  const proc = spawnIn(ns, ["rsyslogd", "-n", "-f", conf, "-i", join(dir, "rsyslogd.pid")]);
  t.after(() => proc.stop("SIGTERM", 5000));
  await waitUntil(async () => (await run(["test", "-S", socket], { check: false })).code === 0, {
    timeoutMs: 10_000,
    intervalMs: 50,
    what: `rsyslogd to create ${socket}`,
  });
  const read = (): Promise<string> => readFile(messages, "utf8").catch(() => "");
  return {
    socket,
    messages,
    async waitFor(re, timeoutMs = 10_000) {
      let hit = "";
      await waitUntil(
        async () => {
          hit = (await read()).split("\n").find((l) => re.test(l)) ?? "";
          return hit !== "";
        },
        { timeoutMs, intervalMs: 50, what: `a syslog line matching ${String(re)} in ${messages}` },
      );
      return hit;
    },
  };
}
