// `npm run build`: the program as a few files (dist/bin), not a tree of a
// hundred and seventy modules. Every CLI process (inetd starts one per trap
// connection, munin one every five minutes) otherwise spends about 100 ms of
// its 200 finding, reading and compiling module files one by one (zod alone
// is 94 of them). Code splitting keeps each command's code, and the daemon's,
// in chunks loaded only by the command that needs them.
import { rmSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry a hash: the last build's would stay beside the new ones.
rmSync("dist/bin", { recursive: true, force: true });
await build({
  // The snapshot checker's thread is a file of its own, beside the chunks that start it.
  entryPoints: [
    { in: "src/cli.ts", out: "cli" },
    { in: "src/cluster/snapshot-check-worker.ts", out: "snapshot-check-worker" },
  ],
  outdir: "dist/bin",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Loaded from node_modules at run time: better-sqlite3 is native code; the
  // daemon's server and Redis libraries load only in the daemon, and stay as
  // their authors ship them.
  external: ["better-sqlite3", "fastify", "@fastify/*", "ioredis", "prom-client"],
  // commander and ipaddr.js are CommonJS and call require() for node's own modules.
  banner: { js: 'import { createRequire as __iblockRequire } from "node:module"; const require = __iblockRequire(import.meta.url);' },
  sourcemap: true,
  logLevel: "warning",
});
