// The documentation matches the program: every config key in the sample
// config and README's table, README's inetd lines are what `setup inetd`
// prints, and the manual page has what the CLI takes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse } from "smol-toml";
import { CONFIG_KEYS, DEFAULT_CONFIG_FILE, validateConfig } from "../../src/config.js";
import { KEY_HELP } from "../../src/config-keys.js";
import { inetdConf } from "../../src/setup/services.js";

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const README = read("README.md");

test("every config key is in contrib/iblock.toml, README's table and the error help", () => {
  const sample = read("contrib/iblock.toml");
  const table = README.slice(README.indexOf("## Configuration"), README.indexOf("### Why these defaults"));
  const missing = {
    // A section ([http]) is named as one, its keys below it.
    sample: CONFIG_KEYS.filter((k) => !new RegExp(`^# (${k} = |\\[${k}\\]$)`, "m").test(sample)),
    readme: CONFIG_KEYS.filter((k) => !table.includes(`| \`${k}\` |`)),
    help: CONFIG_KEYS.filter((k) => !(k in KEY_HELP)),
  };
  assert.deepEqual(missing, { sample: [], readme: [], help: [] });
  assert.ok(CONFIG_KEYS.length >= 28, "the schema's keys were found");
});

test("README's OpenBSD inetd lines are what `iblock setup inetd` prints for its config", () => {
  const openbsd = README.slice(README.indexOf("## OpenBSD"), README.indexOf("## Coming from the C iblock"));
  const toml = /```toml\n([\s\S]*?)```/.exec(openbsd)?.[1];
  assert.ok(toml, "the OpenBSD section has a config");
  // README's config is /etc/iblock.toml (no -c), and its program the one it installs.
  const config = validateConfig(parse(toml), DEFAULT_CONFIG_FILE, {});
  const lines = /setup inetd[^`]*`[\s\S]*?```\n([\s\S]*?)```/.exec(openbsd)?.[1];
  assert.equal(lines, inetdConf(config, "/usr/local/bin/iblock"));
});

test("iblock.8: ban's --time in the SYNOPSIS, an exit status for every command", () => {
  const man = read("iblock.8");
  const synopsis = man.slice(man.indexOf(".Sh SYNOPSIS"), man.indexOf(".Sh DESCRIPTION"));
  assert.match(synopsis, /\.Cm ban\n\.Ar address\n\.Op Fl -reason Ar text\n\.Op Fl -time Ar duration/);
  const status = man.slice(man.indexOf(".Sh EXIT STATUS"), man.indexOf(".Sh EXAMPLES"));
  for (const cmd of ["run", "ban", "unban", "list", "stats", "show", "export", "doctor", "munin", "setup"]) {
    assert.match(status, new RegExp(`\\.It .*\\b${cmd}\\b`), `EXIT STATUS names ${cmd}`);
  }
  const readmeCodes = README.slice(README.indexOf("Exit codes follow sysexits"), README.indexOf("## OpenBSD"));
  for (const cmd of ["run", "ban", "unban", "list", "stats", "show", "export", "doctor", "munin", "setup"]) {
    assert.match(readmeCodes, new RegExp(`\`${cmd}\``), `README's exit codes name ${cmd}`);
  }
});
