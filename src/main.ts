#!/usr/bin/env node
// The program's entry (the bundle's, tools/bundle.mjs). cli.ts only defines the
// commands, so a test can read their definition without running one.
import { main } from "./cli.js";

// Not a top-level await: the build makes this a CommonJS script.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
