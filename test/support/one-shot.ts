// What inetd does, no more, for tests that need no inetd.conf: for each
// connection on a port, iblock with the socket as its standard input (and
// output: the scanner's), then "exit CODE" on the runner's stdout.
import { CLI_JS, requireBuild } from "./daemon.js";
import type { Topology } from "./netns.js";
import type { LineProcess } from "./proc.js";

const RUNNER = String.raw`const [cli, config, port] = process.argv.slice(1);
require("node:net").createServer({ pauseOnConnect: true }, (s) => {
  const c = require("node:child_process").spawn(process.execPath, [cli, "-c", config], { stdio: [s, s, s] });
  c.on("exit", (code) => { console.log("exit " + code); s.destroy(); });
}).listen(Number(port), "::", () => console.log("listening"));`;

/** The runner in `ns`, listening on `port` (stopped with the topology). */
export async function startOneShotRunner(topo: Topology, ns: string, configPath: string, port: number, env: NodeJS.ProcessEnv): Promise<LineProcess> {
  requireBuild();
  const runner = topo.spawn(ns, [process.execPath, "-e", RUNNER, CLI_JS, configPath, String(port)], { env });
  await runner.waitForLine(/^listening$/, 5000);
  return runner;
}
