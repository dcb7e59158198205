// Anyone who can write to Redis can write the fleet's nodes hash, which
// `iblock cluster status` shows to root: a node name with escape sequences, a
// bidi override and a C1 control, and times that are no date (1e20 made
// toISOString throw) are printed escaped and said to be invalid, and the
// command still answers; --json keeps the name as it came, only escaped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fleetKeys } from "../../src/cluster/keys.js";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_NAME } from "../support/fleet.js";

// Sets the terminal's title, clears the screen, reverses the rest, then CSI in its C1 form.
const NODE = "evil\x1b]0;owned\x07\x1b[2J\u202eeman\x9b2J";
const SHOWN = String.raw`evil\x1b]0;owned\x07\x1b[2J\u202eeman\x9b2J`;
const RAW = ["\x1b", "\x07", "\u202e", "\x9b"];
const raw = (text: string): string[] => RAW.filter((c) => text.includes(c));

void test("cluster status prints a hostile node name escaped and times that are no date as invalid", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli"])) return;
  const fleet = await Fleet.create(t);
  const a = await fleet.host(t, "a");
  const da = await a.start();
  await da.waitForLine(/caught up from the snapshot/, 10_000);
  // Verbatim, as redis-cli writes them: no check of ours stands between.
  await fleet.redisCli(["HSET", fleetKeys(FLEET_NAME).nodes, `seen:${NODE}`, "1e20", `ban:${NODE}`, "99999999999999999999"]);

  const r = await a.cli("cluster", ["status"]);
  assert.equal(r.code, 0, r.stdout + r.stderr + da.tail());
  assert.deepEqual(raw(r.stdout + r.stderr), [], `nothing raw in ${JSON.stringify(r.stdout)}`);
  const peer = r.stdout.split("\n").find((l) => l.includes(SHOWN));
  assert.ok(peer, `the node shown escaped: ${r.stdout}`);
  assert.match(peer, /not seen recently, last seen invalid time \(1e20\), last ban invalid time \(99999999999999999999\)/);

  const json = await a.cli("cluster", ["status", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(raw(json.stdout), [], json.stdout);
  const view = JSON.parse(json.stdout) as { peers: { node: string; seen: string | null }[] };
  assert.deepEqual(
    view.peers.filter((p) => p.node === NODE).map((p) => p.seen),
    ["invalid time (1e20)"],
    "the name as it came, its time said to be invalid",
  );
});
