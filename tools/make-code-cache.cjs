// Build step (tools/bundle.mjs): runs the bundle as cli-loader.cjs does, with
// the arguments given, and writes V8's code cache of it to main.cjs.cache at
// exit: the cache then holds every function that run compiled.
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
const { createRequire, wrap } = require("node:module");
const { Script } = require("node:vm");

const [given = "", ...args] = process.argv.slice(2);
const file = require("node:path").resolve(given);
process.argv = [process.argv[0], file, ...args];
// As cli-loader.cjs compiles it.
const script = new Script(wrap(readFileSync(file, "utf8")), {
  filename: file,
  importModuleDynamically: require("node:vm").constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
process.on("exit", () => writeFileSync(`${file}.cache`, script.createCachedData()));
const module_ = { exports: {} };
script.runInThisContext()(module_.exports, createRequire(file), module_, file, require("node:path").dirname(file));
