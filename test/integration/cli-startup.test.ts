// What a CLI process loads. inetd starts one per trap connection and munin one
// every five minutes: they must not pay for the daemon's web server, metrics
// and Redis client (about 100 ms of loading), nor read a tree of modules
// (the build bundles them, see tools/bundle.mjs).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { CLI_JS, requireBuild } from "../support/daemon.js";

// Registered with module.register: records every module the process loads.
const RECORDER = `
import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.IBLOCK_TEST_LOADED, url + "\\n");
  return next(url, context);
}
`;

function loadedBy(args: readonly string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "iblock-startup-"));
  try {
    const hooks = join(dir, "hooks.mjs");
    writeFileSync(hooks, RECORDER);
    const register = join(dir, "register.mjs");
    writeFileSync(register, `import { register } from "node:module"; register(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const config = join(dir, "iblock.toml");
    // A [cluster] section too: checking it must not load the Redis client.
    writeFileSync(join(dir, "cluster.key"), "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
    writeFileSync(
      config,
      `state_dir = ${JSON.stringify(join(dir, "state"))}\n[cluster]\nredis = "redis-sentinel://192.0.2.1:26379/main"\nname = "web"\nsecret_file = ${JSON.stringify(join(dir, "cluster.key"))}\n`,
    );
    const loaded = join(dir, "loaded.txt");
    writeFileSync(loaded, "");
    execFileSync(process.execPath, ["--import", pathToFileURL(register).href, CLI_JS, ...args, "-c", config], {
      env: { ...process.env, IBLOCK_TEST_LOADED: loaded },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return readFileSync(loaded, "utf8").split("\n").filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void test("munin and list load a few bundled files, not the daemon's libraries", () => {
  requireBuild();
  for (const args of [["munin"], ["list"]]) {
    const loaded = loadedBy(args);
    const ours = loaded.filter((u) => u.includes("/dist/bin/"));
    const libraries = loaded.filter((u) => u.includes("/node_modules/"));
    assert.ok(ours.length >= 1 && ours.length <= 8, `iblock ${args.join(" ")} loaded ${ours.length} of our files:\n${ours.join("\n")}`);
    // better-sqlite3 (native) is the one library read from node_modules.
    assert.deepEqual(
      libraries.filter((u) => !u.includes("/node_modules/better-sqlite3/") && !u.includes("/node_modules/bindings/") && !u.includes("/node_modules/file-uri-to-path/")),
      [],
      `iblock ${args.join(" ")} loaded libraries it does not need`,
    );
  }
});
