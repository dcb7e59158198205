// What comes from outside reaches root's terminal and the log escaped, never
// raw: a ban reason given through the daemon's control socket, holding a bidi
// override, escape sequences and a C1 control, as `iblock list` and `iblock
// show` print it; a feed line with escape sequences and C1 controls, as the
// daemon's log quotes it. `--json` keeps the data as it came, only written
// with \u escapes.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { test } from "node:test";
import { createInstance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { feedTables, FeedServer } from "../support/feed-server.js";
import { createTopology } from "../support/netns.js";

// Reversed text, a screen clear, red, and CSI in its one-byte C1 form.
const EVIL = "\u202eexe.txt\x1b[2J\x1b[31m\x9bK";
const RAW = ["\u202e", "\x1b", "\x9b", "\x85"];
const raw = (text: string): string[] => RAW.filter((c) => text.includes(c));

void test("a ban reason with a bidi override and escape sequences, and a feed line with escape sequences and C1 controls, are printed escaped", { timeout: 120_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host, { trap_ports: [23] });
  const server = await FeedServer.start(topo, inst.dir);
  // A feed is read a byte a character: ESC, CSI (0x9b) and NEL (0x85) as single bytes.
  await server.write("evil.txt", Buffer.concat([Buffer.from([0x1b]), Buffer.from("[2J"), Buffer.from([0x9b]), Buffer.from("K"), Buffer.from([0x85]), Buffer.from("198.18.0.1\n198.18.0.2\n")]));
  await appendFile(inst.configPath, feedTables([{ name: "evil", url: server.url("evil.txt"), interval: "1h" }]));
  const d = await inst.start();

  // The parser quotes the line with JSON.stringify (ESC as \u001b); the log escapes what that leaves (C1).
  const line = await d.waitForLine(/feed evil: refused line 1/, 30_000);
  assert.deepEqual(raw(line), [], `nothing raw in ${JSON.stringify(line)}`);
  assert.ok(line.includes(String.raw`"\u001b[2J\x9bK\x85198.18.0.1"`), line);

  const ban = await inst.cli("ban", ["198.51.100.7", "--reason", EVIL]);
  assert.equal(ban.code, 0, ban.stdout + ban.stderr);
  const shown = String.raw`\u202eexe.txt\x1b[2J\x1b[31m\x9bK`;
  for (const args of [["list"], ["show", "198.51.100.7"]]) {
    const r = await inst.cli(args[0] as string, args.slice(1));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(raw(r.stdout), [], `iblock ${args.join(" ")}: nothing raw in ${JSON.stringify(r.stdout)}`);
    assert.ok(r.stdout.includes(shown), `iblock ${args.join(" ")} shows the reason escaped: ${r.stdout}`);
  }
  const json = await inst.cli("list", ["--json"]);
  assert.deepEqual(raw(json.stdout), [], json.stdout);
  const reasons = (JSON.parse(json.stdout) as { prefix: string; reason: string | null }[]).filter((b) => b.prefix === "198.51.100.7/32").map((b) => b.reason);
  assert.deepEqual(reasons, [EVIL], "the JSON holds the reason as given");
});
