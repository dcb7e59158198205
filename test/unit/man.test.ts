// The manual page names every command, option and config key the program
// takes, and none it does not: read from the CLI's commander definition and
// the config schemas, compared with iblock.8 both ways.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { Command } from "commander";
import { program } from "../../src/cli.js";
import { clusterSchema } from "../../src/cluster/config.js";
import { CONFIG_KEYS } from "../../src/config.js";
import { crowdsecSchema } from "../../src/crowdsec/config.js";
import { FIXED_KEYS, FIXED_SECTIONS } from "../../src/reload-keys.js";
import { feedSchema } from "../../src/feeds/config.js";
import { HTTP_KEYS } from "../../src/http/config.js";
import { hooksSchema } from "../../src/hooks/config.js";
import { reportSchema } from "../../src/report/config.js";

const MAN = readFileSync(new URL("../../iblock.8", import.meta.url), "utf8");
const section = (name: string): string => {
  const start = MAN.indexOf(`.Sh ${name}\n`);
  assert.ok(start >= 0, `iblock.8 has a ${name} section`);
  const end = MAN.indexOf("\n.Sh ", start + 1);
  return MAN.slice(start, end < 0 ? undefined : end);
};

/** Every command's path ("" for the bare `iblock`, "feeds refresh") and its long options; -c is on all of them. */
function cliCommands(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (c: Command, path: string[]): void => {
    const options = c.options.filter((o) => o.long !== "--config").map((o) => o.long ?? o.short ?? "");
    // A group of subcommands that takes nothing itself (`cluster`) is no command of its own.
    if (!(c.commands.length > 0 && options.length === 0)) out.set(path.join(" "), options.sort());
    for (const sub of c.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program(), []);
  return out;
}

/** The SYNOPSIS: one block per `.Nm`; its command is its first line's `.Cm` words, its options every `Fl`. */
function manSynopsis(longOf: (flag: string) => string): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const block of section("SYNOPSIS").split(/^\.Nm$/m).slice(1)) {
    const first = block.trim().split("\n")[0] ?? "";
    const path = first.startsWith(".Cm ") ? first.slice(4).trim() : "";
    const flags = out.get(path) ?? new Set<string>();
    for (const m of block.matchAll(/\bFl (-?[A-Za-z][\w-]*)/g)) flags.add(longOf(`-${m[1]}`));
    out.set(path, flags);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].filter((f) => f !== "--config").sort()]));
}

test("iblock.8's SYNOPSIS has every command and option of the CLI, and no other", () => {
  const cli = cliCommands();
  const all = [...cli.keys()].flatMap((path) => {
    const c = path === "" ? program() : undefined;
    return c ? c.options : [];
  });
  // A short flag in the page (`Fl t`) is the option whose short form it is.
  const longOf = (flag: string): string => {
    for (const o of all) if (o.short === flag) return o.long ?? flag;
    return flag === "-c" ? "--config" : flag;
  };
  const man = manSynopsis(longOf);
  assert.deepEqual(Object.fromEntries(man), Object.fromEntries(cli));
  assert.ok(cli.size >= 17, "the CLI's commands were found");
  assert.match(section("DESCRIPTION"), /Every command accepts\n\.Fl c Ar file/);
});

test("iblock.8's DESCRIPTION describes every command", () => {
  const description = section("DESCRIPTION");
  for (const path of cliCommands().keys()) {
    if (path === "") continue;
    assert.match(description, new RegExp(`^\\.It Cm ${path}\\b`, "m"), `DESCRIPTION has an item for ${path}`);
  }
});

/** CONFIGURATION's list items: the keys of the outer list, and of each section's inner list. */
function manKeys(): { top: string[]; inner: Record<string, string[]> } {
  const top: string[] = [];
  const inner: Record<string, string[]> = {};
  let depth = 0;
  let current = "";
  for (const line of section("CONFIGURATION").split("\n")) {
    if (line.startsWith(".Bl ")) depth++;
    else if (line === ".El") depth--;
    else if (line.startsWith(".It ")) {
      const words = [...line.matchAll(/\bCm (\S+)/g)].map((m) => m[1] as string);
      if (depth === 1) {
        top.push(...words);
        current = words[0] ?? "";
      } else if (depth === 2) (inner[current] ??= []).push(...words);
    }
  }
  return { top: top.sort(), inner: Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, v.sort()])) };
}

test("iblock.8's CONFIGURATION has every config key, section key included, and no other", () => {
  const asSection: Record<string, string> = { http: "[http]", cluster: "[cluster]", feed: "[[feed]]", report: "[report]", hooks: "[hooks]", crowdsec: "[crowdsec]" };
  const { top, inner } = manKeys();
  assert.deepEqual(top, CONFIG_KEYS.map((k) => asSection[k] ?? k).sort());
  assert.deepEqual(inner, {
    "[http]": [...HTTP_KEYS].sort(),
    "[cluster]": Object.keys(clusterSchema.shape).sort(),
    "[[feed]]": Object.keys(feedSchema.shape).sort(),
    "[report]": Object.keys(reportSchema.shape).sort(),
    "[hooks]": Object.keys(hooksSchema.shape).sort(),
    "[crowdsec]": Object.keys(crowdsecSchema.shape).sort(),
  });
});

test("iblock.8 names the keys that change only with a restart, and no other", () => {
  const start = MAN.indexOf("These keys change only with a restart");
  assert.ok(start >= 0, "iblock.8 says which keys change only with a restart");
  const said = MAN.slice(start, MAN.indexOf("\n.Pp", start));
  const words = [...said.matchAll(/^\.Cm (\S+)/gm)].map((m) => m[1] as string).sort();
  assert.deepEqual(words, FIXED_KEYS.map((k) => (FIXED_SECTIONS.includes(k) ? `[${k}]` : k)).sort());
});
