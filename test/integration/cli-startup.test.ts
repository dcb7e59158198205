// What a CLI process loads. inetd starts one per trap connection and munin one
// every five minutes: they must not pay for the daemon's web server, metrics
// and Redis client (about 100 ms of loading), nor compile our code again each
// time (the build bundles it with V8's code cache, see tools/bundle.mjs).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { Script } from "node:vm";
import { CLI_JS, requireBuild } from "../support/daemon.js";
import { Store } from "../../src/store/store.js";

// Preloaded with --require: at exit, writes every module the process required.
const RECORDER = `
process.on("exit", () => require("node:fs").writeFileSync(process.env.IBLOCK_TEST_LOADED, Object.keys(require.cache).join("\\n")));
`;

function loadedBy(args: readonly string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "iblock-startup-"));
  try {
    const recorder = join(dir, "recorder.cjs");
    writeFileSync(recorder, RECORDER);
    const config = join(dir, "iblock.toml");
    // A [cluster] section too: checking it must not load the Redis client.
    writeFileSync(join(dir, "cluster.key"), "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
    writeFileSync(
      config,
      `state_dir = ${JSON.stringify(join(dir, "state"))}\n[cluster]\nredis = "redis-sentinel://192.0.2.1:26379/main"\nname = "web"\nsecret_file = ${JSON.stringify(join(dir, "cluster.key"))}\n`,
    );
    // A store to read: without one, munin and list stop at "no store" (exit 66) before opening SQLite.
    mkdirSync(join(dir, "state"), { mode: 0o750 });
    new Store(join(dir, "state", "iblock.sqlite")).close();
    const loaded = join(dir, "loaded.txt");
    execFileSync(process.execPath, ["--require", recorder, CLI_JS, ...args, "-c", config], {
      env: { ...process.env, IBLOCK_TEST_LOADED: loaded },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return readFileSync(loaded, "utf8").split("\n").filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void test("munin and list load no library but SQLite's", () => {
  requireBuild();
  for (const args of [["munin"], ["list"]]) {
    const loaded = loadedBy(args);
    assert.ok(loaded.includes(CLI_JS), `the recorder saw iblock start:\n${loaded.join("\n")}`);
    const libraries = loaded.filter((f) => f.includes("/node_modules/"));
    // better-sqlite3 (native) is the one library read from node_modules.
    assert.deepEqual(
      libraries.filter((f) => !f.includes("/node_modules/better-sqlite3/") && !f.includes("/node_modules/bindings/") && !f.includes("/node_modules/file-uri-to-path/")),
      [],
      `iblock ${args.join(" ")} loaded libraries it does not need`,
    );
  }
});

void test("the build's code cache fits its bundle and this Node", () => {
  requireBuild();
  // As cli.cjs compiles it: V8 says whether it could use the cache.
  const main = join(dirname(CLI_JS), "main.cjs");
  const script = new Script(Module.wrap(readFileSync(main, "utf8")), { filename: main, cachedData: readFileSync(`${main}.cache`) });
  assert.equal(script.cachedDataRejected, false);
});

void test("the build's own run of iblock stays in its scratch dir, whatever IBLOCK_* the builder has set", () => {
  // Inside the tree: the bundle finds better-sqlite3 in node_modules above it, as the real one does.
  const dir = mkdtempSync(join(dirname(CLI_JS), "..", "build-test-"));
  try {
    const out = join(dir, "bin");
    const state = join(dir, "state");
    execFileSync(process.execPath, ["tools/bundle.mjs", out], {
      cwd: join(dirname(CLI_JS), "..", ".."),
      env: { ...process.env, IBLOCK_STATE_DIR: state },
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.ok(readFileSync(join(out, "main.cjs.cache")).length > 0, "the cache was made");
    assert.throws(() => readFileSync(join(state, "iblock.sqlite")), /ENOENT/, "no store made in the builder's IBLOCK_STATE_DIR");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test("the build depends on none of the host's addresses, gateways or resolvers", () => {
  // A builder whose own address, gateway and resolver are the addresses the build's own run uses.
  const ns = `ibt-${process.pid}-build`;
  const ip = (...args: string[]): void => void execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  const dir = mkdtempSync(join(dirname(CLI_JS), "..", "build-test-"));
  ip("netns", "add", ns);
  try {
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1");
    ip("-n", ns, "link", "set", "d0", "up");
    ip("-n", ns, "link", "set", "d1", "up");
    ip("-n", ns, "addr", "add", "203.0.113.7/24", "dev", "d0");
    ip("-n", ns, "addr", "add", "192.0.2.2/24", "dev", "d0");
    ip("-n", ns, "route", "add", "default", "via", "192.0.2.1");
    const out = join(dir, "bin");
    execFileSync("ip", ["netns", "exec", ns, process.execPath, "tools/bundle.mjs", out], {
      cwd: join(dirname(CLI_JS), "..", ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.ok(readFileSync(join(out, "main.cjs.cache")).length > 0, "the cache was made");
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
});

void test("a build that fails says why and leaves the last good build in place", () => {
  // The real build script, run on a tree whose program fails at once.
  const root = join(dirname(CLI_JS), "..", "..");
  const dir = mkdtempSync(join(tmpdir(), "iblock-broken-build-"));
  try {
    symlinkSync(join(root, "tools"), join(dir, "tools"));
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    mkdirSync(join(dir, "src", "cluster", "snapshot"), { recursive: true });
    writeFileSync(join(dir, "src", "main.ts"), 'throw new Error("broken on purpose");\n');
    writeFileSync(join(dir, "src", "cluster", "snapshot", "reader-worker.ts"), "export {};\n");
    const out = join(dir, "bin");
    mkdirSync(out);
    writeFileSync(join(out, "cli.cjs"), "the last good build\n");
    const run = spawnSync(process.execPath, [join(dir, "tools", "bundle.mjs"), out], { cwd: dir, encoding: "utf8" });
    assert.notEqual(run.status, 0, "the build failed");
    assert.match(run.stderr, /broken on purpose/, "the failing step's output is shown");
    assert.equal(readFileSync(join(out, "cli.cjs"), "utf8"), "the last good build\n", "the last good build is untouched");
    assert.throws(() => readFileSync(join(`${out}.next`, "main.cjs")), /ENOENT/, "no half build left beside it");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
