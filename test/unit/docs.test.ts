// The documentation matches the program: every config key in the sample
// config and docs/configuration.md's table, docs/inetd.md's OpenBSD lines are
// what `setup inetd` prints, the manual page has what the CLI takes, and every
// link between README and docs/ leads somewhere.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { parse } from "smol-toml";
import { CONFIG_KEYS, DEFAULT_CONFIG_FILE, validateConfig } from "../../src/config.js";
import { KEY_HELP } from "../../src/config-keys.js";
import { inetdConf } from "../../src/setup/services.js";
import { FIXED_KEYS, FIXED_SECTIONS } from "../../src/reload-keys.js";

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

test("every config key is in contrib/iblock.toml, docs/configuration.md's table and the error help", () => {
  const sample = read("contrib/iblock.toml");
  const configuration = read("docs/configuration.md");
  const table = configuration.slice(configuration.indexOf("## Keys"), configuration.indexOf("## Why these defaults"));
  const missing = {
    // A section ([http]) is named as one, its keys below it.
    sample: CONFIG_KEYS.filter((k) => !new RegExp(`^# (${k} = |\\[${k}\\]$)`, "m").test(sample)),
    readme: CONFIG_KEYS.filter((k) => !table.includes(`| \`${k}\` |`)),
    help: CONFIG_KEYS.filter((k) => !(k in KEY_HELP)),
  };
  assert.deepEqual(missing, { sample: [], readme: [], help: [] });
  assert.ok(CONFIG_KEYS.length >= 28, "the schema's keys were found");
});

test("docs/inetd.md's OpenBSD lines are what `iblock setup inetd` prints for its config", () => {
  const inetd = read("docs/inetd.md");
  const openbsd = inetd.slice(inetd.indexOf("## OpenBSD"), inetd.indexOf("## PATH"));
  const toml = /```toml\n([\s\S]*?)```/.exec(openbsd)?.[1];
  assert.ok(toml, "the OpenBSD section has a config");
  // The docs' config is /etc/iblock.toml (no -c), and its program the one OpenBSD's package installs.
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
  const commands = read("docs/commands.md");
  const codes = commands.slice(commands.indexOf("## Exit codes"));
  for (const cmd of ["run", "ban", "unban", "list", "stats", "show", "export", "doctor", "munin", "setup"]) {
    assert.match(codes, new RegExp(`\`${cmd}\``), `docs/commands.md's exit codes name ${cmd}`);
  }
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
const anchor = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

test("every relative link in README and docs/ leads to a file that exists, and to a heading in it", () => {
  const files = ["README.md", ...readdirSync(new URL("../../docs", import.meta.url)).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  let links = 0;
  for (const file of files) {
    // Code is no link: drop fenced blocks and inline code first.
    const text = read(file).replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/.test(target)) continue;
      links++;
      const [path = "", hash] = target.split("#");
      const to = path === "" ? file : join(dirname(file), path);
      if (!existsSync(new URL(`../../${to}`, import.meta.url))) {
        broken.push(`${file}: ${target} (no ${to})`);
        continue;
      }
      if (hash === undefined || !to.endsWith(".md")) continue;
      const headings = [...read(to).replace(/```[\s\S]*?```/g, "").matchAll(/^#+ (.*)$/gm)].map((h) => anchor(h[1] as string));
      if (!headings.includes(hash)) broken.push(`${file}: ${target} (no heading #${hash} in ${to})`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(links >= 20, `the links were found (${links})`);
});

test("docs/configuration.md's Signals names every key that changes only with a restart", () => {
  const configuration = read("docs/configuration.md");
  const signals = configuration.slice(configuration.indexOf("## Signals"));
  const missing = FIXED_KEYS.filter((k) => !signals.includes(FIXED_SECTIONS.includes(k) ? `\`[${k}]\`` : `\`${k}\``));
  assert.deepEqual(missing, []);
});
