import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * OpenBSD's pfctl cannot run on Linux, so PF is the one backend tested against
 * a stand-in: fake `pfctl` and `doas` programs that append their argv (one
 * JSON array a line) to a log and keep the table in a file, as pfctl would.
 * The tests pin the exact commands.
 */
export interface FakePf {
  dir: string;
  pfctl: string;
  doas: string;
  /** Every call so far, doas and pfctl, in order. */
  calls(): string[][];
  /** What each `-f -` call read on standard input, in order. */
  inputs(): string[];
  /** The next `n` pfctl calls fail with a message on stderr. */
  failNext(n: number): void;
}

const PFCTL = `#!/usr/bin/env node
const fs = require("node:fs"), path = require("node:path");
const dir = __dirname, args = process.argv.slice(2);
fs.appendFileSync(path.join(dir, "calls.log"), JSON.stringify(["pfctl", ...args]) + "\\n");
const failFile = path.join(dir, "fail");
const fails = fs.existsSync(failFile) ? Number(fs.readFileSync(failFile, "utf8")) : 0;
if (fails > 0) {
  fs.writeFileSync(failFile, String(fails - 1));
  process.stderr.write("pfctl: DIOCRADDADDRS: Device busy\\n");
  process.exit(1);
}
if (args[0] === "-k") process.exit(0);
if (args[0] !== "-t" || args[2] !== "-T") { process.stderr.write("pfctl: bad usage\\n"); process.exit(1); }
const tableFile = path.join(dir, "table-" + args[1]);
const table = new Set(fs.existsSync(tableFile) ? fs.readFileSync(tableFile, "utf8").split("\\n").filter(Boolean) : []);
const verb = args[3];
let addrs = args.slice(4);
if (addrs[0] === "-f") {
  // pfctl -T add|delete|replace -f FILE ("-": standard input): one address a line.
  const text = fs.readFileSync(addrs[1] === "-" ? 0 : addrs[1], "utf8");
  fs.appendFileSync(path.join(dir, "inputs.log"), JSON.stringify(text) + "\\n");
  addrs = text.split("\\n").map((l) => l.trim()).filter(Boolean);
}
if (verb === "add") addrs.forEach((a) => table.add(a));
else if (verb === "delete") addrs.forEach((a) => table.delete(a));
else if (verb === "replace") { table.clear(); addrs.forEach((a) => table.add(a)); }
else if (verb === "flush") { addrs = [...table]; table.clear(); }
else if (verb === "show") { process.stdout.write([...table].map((a) => "   " + a + "\\n").join(""), () => process.exit(0)); return; }
else { process.stderr.write("pfctl: unknown verb\\n"); process.exit(1); }
fs.writeFileSync(tableFile, [...table].join("\\n") + "\\n");
process.stderr.write(addrs.length + "/" + addrs.length + " addresses " + verb + "ed.\\n");
`;

const DOAS = `#!/usr/bin/env node
const fs = require("node:fs"), path = require("node:path"), { spawnSync } = require("node:child_process");
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, "calls.log"), JSON.stringify(["doas", ...args]) + "\\n");
if (args[0] !== "-n") { process.stderr.write("doas: would prompt for a password\\n"); process.exit(1); }
const r = spawnSync(args[1], args.slice(2), { stdio: "inherit" });
process.exit(r.status ?? 1);
`;

export function fakePf(): FakePf {
  const dir = mkdtempSync(join(tmpdir(), "iblock-fakepf-"));
  const pfctl = join(dir, "pfctl");
  const doas = join(dir, "doas");
  writeFileSync(pfctl, PFCTL);
  writeFileSync(doas, DOAS);
  chmodSync(pfctl, 0o755);
  chmodSync(doas, 0o755);
  const log = join(dir, "calls.log");
  return {
    dir,
    pfctl,
    doas,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string[])
        : [],
    inputs: () =>
      existsSync(join(dir, "inputs.log"))
        ? readFileSync(join(dir, "inputs.log"), "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string)
        : [],
    failNext: (n) => writeFileSync(join(dir, "fail"), String(n)),
  };
}
