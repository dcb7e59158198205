// `npm run build`: the program as one file (dist/bin/main.cjs) and V8's code
// cache of it, not a tree of a hundred and seventy modules. Every CLI process
// (inetd starts one per trap connection, munin one every five minutes)
// otherwise spends most of its time finding, reading, parsing and compiling
// our code. `iblock` is dist/bin/cli.cjs (tools/cli-loader.cjs), which runs
// the bundle with the cache.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

// Another directory as an argument: the tests build one of their own.
const OUT = process.argv[2] ?? "dist/bin";
// Built beside OUT and moved into place only once every step worked: a failed
// build leaves the last good one, and `npm start` or an installed iblock keeps working.
const NEXT = `${OUT}.next`;
const MAIN = join(NEXT, "main.cjs");

rmSync(NEXT, { recursive: true, force: true });
const common = {
  bundle: true,
  // CommonJS: Node 20 can use a code cache only for scripts, not ES modules.
  format: "cjs",
  platform: "node",
  target: "node20",
  // Loaded from node_modules at run time: better-sqlite3 is native code; the
  // daemon's server and Redis libraries load only in the daemon, and stay as
  // their authors ship them.
  external: ["better-sqlite3", "fastify", "@fastify/*", "ioredis", "prom-client"],
  // Our code finds files beside itself (the worker, the dashboard, package.json) from import.meta.url.
  define: { "import.meta.url": "__iblockUrl" },
  banner: { js: 'const __iblockUrl = require("node:url").pathToFileURL(__filename).href;' },
  sourcemap: true,
  logLevel: "warning",
};
await build({ ...common, entryPoints: ["src/main.ts"], outfile: MAIN });
// The snapshot reader's thread is a file of its own, beside the bundle that starts it.
await build({ ...common, entryPoints: ["src/cluster/snapshot/reader-worker.ts"], outfile: join(NEXT, "snapshot-reader-worker.cjs") });

// The bundle is wrapped in a function to run: a #! line inside would not parse.
writeFileSync(MAIN, readFileSync(MAIN, "utf8").replace(/^#![^\n]*\n/, "\n"));
copyFileSync("tools/cli-loader.cjs", join(NEXT, "cli.cjs"));
chmodSync(join(NEXT, "cli.cjs"), 0o755);

// The cache holds what one run compiled: `munin` reads the config and opens the
// store, as most commands do. A store to open comes first, made by an `unban`
// in a scratch state dir (no firewall, no syslog): an unban is checked against
// nothing of this host, where a ban would be refused if the builder's own
// addresses, gateways or resolvers covered it.
/** One step of the build's own run of iblock; when it fails, what it said is shown and the build stops. */
function ran(args, env) {
  try {
    execFileSync(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    return true;
  } catch (e) {
    process.stderr.write(`build: ${args.join(" ")} failed (${e.status ?? e.signal ?? e.message})\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    return false;
  }
}
const scratch = mkdtempSync(join(tmpdir(), "iblock-build-"));
let cached;
try {
  const config = join(scratch, "iblock.toml");
  writeFileSync(config, `state_dir = ${JSON.stringify(join(scratch, "state"))}\nfirewall = "none"\nsyslog = false\n`);
  // Without the builder's IBLOCK_* variables: IBLOCK_STATE_DIR would put that store in a real place.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("IBLOCK_")));
  cached = ran([MAIN, "unban", "203.0.113.7", "-c", config], env) && ran(["tools/make-code-cache.cjs", MAIN, "munin", "-c", config], env);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (!cached) {
  rmSync(NEXT, { recursive: true, force: true });
  process.exit(1);
}

// Into place: the old build goes only once the new one is whole.
const OLD = `${OUT}.old`;
rmSync(OLD, { recursive: true, force: true });
if (existsSync(OUT)) renameSync(OUT, OLD);
renameSync(NEXT, OUT);
rmSync(OLD, { recursive: true, force: true });
