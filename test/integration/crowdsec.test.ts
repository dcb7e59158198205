// CrowdSec both ways, against the real program (Debian's crowdsec 1.4): its
// Local API on the host namespace's loopback, no central API. iblock follows
// its decision stream as a bouncer ([[feed]] kind "crowdsec"): decisions
// added with `cscli decisions add` are dropped (real packets from the scanner
// namespace) within the stream's interval, deleted ones lifted, those for this
// host's own address or of another type (captcha) left alone. (The Local
// API sends a bouncer decisions of scope Ip and Range only, unless asked for
// others: the other scopes are counted in a unit test.) And iblock's
// trap bans go to it as alerts ([crowdsec]): `cscli alerts list` shows one for
// the scanner that completed a handshake, none for what CrowdSec itself decided.
import assert from "node:assert/strict";
import { appendFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertDropped, assertServed, assertTrapHit, waitDropped, waitListed, waitServed } from "../support/checks.js";
import { CrowdSec } from "../support/crowdsec.js";
import { createInstance, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { benchAddress, feedTables } from "../support/feed-server.js";
import { ADDR, createTopology } from "../support/netns.js";
import { waitUntil } from "../support/proc.js";
import { Bridge } from "../support/http-bridge.js";
import { parseMetrics } from "../support/prometheus.js";

const DECIDED = benchAddress(7);
const RANGE = "198.18.1.0/24";
const IN_RANGE = benchAddress(256 + 9);
const INNOCENT = benchAddress(20);

void test("crowdsec: its decisions dropped here and lifted; iblock's trap bans in its alerts", { timeout: 150_000 }, async (t) => {
  if (!requireRoot(t, ["ip", "nft", "crowdsec", "cscli"])) return;
  const topo = await createTopology(t, { manySources: true });
  const cs = await CrowdSec.start(t, topo);
  const inst = await createInstance(t, topo.host);
  const keyFile = join(inst.dir, "bouncer.key");
  const passwordFile = join(inst.dir, "machine.password");
  await writeFile(keyFile, `${await cs.bouncerKey("iblock")}\n`, { mode: 0o600 });
  await cs.addMachine("iblock", "iblock-test-password-123");
  await writeFile(passwordFile, "iblock-test-password-123\n", { mode: 0o600 });
  await inst.writeConfig({ trap_ports: [23], crowdsec: { url: cs.url, login: "iblock", password_file: passwordFile }, http: { enabled: true } } as unknown as IblockConfig);
  await appendFile(inst.configPath, feedTables([{ name: "cs", kind: "crowdsec", url: cs.url, api_key_file: keyFile, interval: "1s" }]));

  // One decision before iblock starts: the first read (startup=true) has it.
  await cs.cscli(["decisions", "add", "--ip", DECIDED, "--duration", "4h", "--reason", "ssh-bf by hand"]);
  const d = await inst.start();
  await d.waitForLine(/feed cs: every decision in force: 1 new, 0 deleted; 1 banned/, 20_000);
  await assertDropped(topo, DECIDED, d, "a CrowdSec decision at start");
  const ban = await waitListed(inst, `${DECIDED}/32`);
  assert.equal(ban.source, "feed:cs");
  assert.match(String(ban.reason), /crowdsec: ssh-bf by hand/);
  const left = Date.parse(String(ban.expires)) - Date.now();
  assert.ok(left > 3.9 * 3_600_000 && left <= 4 * 3_600_000, `the decision's own time: ${String(ban.expires)}`);
  await assertServed(topo, INNOCENT, d, "nobody decided on it");

  // Added while iblock runs: a range, an IPv6 address (dropped as its /64), and what must stay untouched.
  await cs.cscli(["decisions", "add", "--range", RANGE, "--duration", "1h"]);
  await cs.cscli(["decisions", "add", "--ip", ADDR.scannerV6, "--duration", "1h"]);
  await cs.cscli(["decisions", "add", "--ip", ADDR.hostV4, "--duration", "1h"]);
  await cs.cscli(["decisions", "add", "--ip", ADDR.otherV4, "--type", "captcha", "--duration", "1h"]);
  await waitDropped(topo, IN_RANGE, d, 45_000);
  await waitDropped(topo, ADDR.scannerV6Sibling, d, 45_000);
  // Within 45 s: CrowdSec 1.4 may leave a decision out of a delta, and the whole list is read every 30 reads.
  await d.waitForLine(/feed cs: refused decision \d+: 192\.0\.2\.1 holds an address, gateway or resolver of this host/, 45_000);
  await d.waitForLine(/feed cs: changes: .*ignored: 0 of another scope, 1 not a ban, 0 malformed/, 15_000);
  await assertServed(topo, ADDR.otherV4, d, "a captcha is no ban");

  // Deleted in CrowdSec: lifted here within the interval; the others stay.
  await cs.cscli(["decisions", "delete", "--ip", DECIDED]);
  await cs.cscli(["decisions", "delete", "--range", RANGE]);
  await waitServed(topo, DECIDED, d, 45_000);
  await waitServed(topo, IN_RANGE, d, 45_000);
  await assertDropped(topo, ADDR.scannerV6, d, "its decision still stands");

  // The other way: a handshake to the trap is banned here and becomes a CrowdSec alert.
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  const alert = await waitUntil(async () => (await cs.alerts()).find((a) => a.scenario === "iblock/trap-port" && a.source.value === ADDR.scannerV4), {
    timeoutMs: 20_000,
    intervalMs: 500,
    what: "the trap ban in cscli alerts list",
  }).catch(async (e: Error) => assert.fail(`${e.message}; alerts: ${JSON.stringify(await cs.alerts())}\n${d.tail()}`));
  assert.equal(alert.machine_id, "iblock");
  assert.deepEqual(alert.events?.[0]?.meta.find((m) => m.key === "dest_port"), { key: "dest_port", value: "23" });
  assert.equal(alert.decisions?.[0]?.type, "ban");
  // What CrowdSec decided is never sent back to it.
  const ours = (await cs.alerts()).filter((a) => a.scenario === "iblock/trap-port").map((a) => a.source.value);
  assert.deepEqual(ours, [ADDR.scannerV4], `only the trap's ban was sent:\n${d.tail()}`);
  // Counted in /metrics.
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const metrics = parseMetrics((await http.request("/metrics")).text);
  assert.equal(metrics.value("iblock_crowdsec_alerts_sent_total", {}), 1);
  assert.equal(metrics.value("iblock_crowdsec_send_failures_total", {}), 0);
  assert.equal(metrics.value("iblock_crowdsec_alerts_dropped_total", {}), 0);
  await d.stop();
});
