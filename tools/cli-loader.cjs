#!/usr/bin/env node
// The `iblock` command: runs the bundle (main.cjs) with the V8 code cache the
// build made beside it (main.cjs.cache), so a CLI process does not parse and
// compile its code again each time. inetd starts one per trap connection and
// munin one every five minutes; Node 20 has no compile cache of its own, and
// none for ES modules, hence CommonJS here.
//
// The cache is only read, never written: it comes with the build, in the
// install directory, not from a writable place at run time. V8 checks it
// against the source's length and its own version and flags, and compiles as
// usual when it does not match (another Node, a rebuilt file) or is missing.
"use strict";
const { readFileSync } = require("node:fs");
const { createRequire, wrap } = require("node:module");
const { join } = require("node:path");
const { Script } = require("node:vm");

const file = join(__dirname, "main.cjs");
let cachedData;
try {
  cachedData = readFileSync(`${file}.cache`);
} catch {
  // No cache: compiled as usual.
}
const script = new Script(wrap(readFileSync(file, "utf8")), {
  filename: file,
  cachedData,
  // import() inside the bundle (none today: esbuild turns them into require) works as in a module.
  importModuleDynamically: require("node:vm").constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const module_ = { exports: {} };
script.runInThisContext()(module_.exports, createRequire(file), module_, file, __dirname);
