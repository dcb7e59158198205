// [report] and [hooks] against the real daemon in a namespace, with a local
// server standing in for AbuseIPDB and the webhook receiver (neither can be
// reached from here): the exact report request, only trap bans reported, the
// 15-minute rule, the daily budget, a kill -9 that loses no queued report,
// the hook program's argv, a signed webhook, and a storm of trap bans that
// reaches the hook program in a handful of calls.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { appendFile, chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertTrapHit, waitDropped } from "../support/checks.js";
import { createInstance, type Instance } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology, exec } from "../support/netns.js";
import { sleep, waitUntil } from "../support/proc.js";
import { RequestRecorder } from "../support/request-recorder.js";
import { stormSource, trapStorm } from "../support/storm.js";

const PORT = 18089;
const REPORT = "/api/v2/report";
const STORM = 1500;
const KEY = "test-abuseipdb-key-0123456789";
const SECRET = "hook-secret-0123456789abcdef0123";

interface Files {
  script: string;
  calls: string;
  key: string;
  secret: string;
}

/** The hook program: one line per call, its arguments; its stdin read to the end. */
async function hookFiles(inst: Instance): Promise<Files> {
  const f = { script: join(inst.dir, "on-ban.sh"), calls: join(inst.dir, "calls"), key: join(inst.dir, "abuseipdb-key"), secret: join(inst.dir, "hook-secret") };
  await writeFile(f.script, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${f.calls}\ncat > /dev/null\n`);
  await chmod(f.script, 0o755);
  await writeFile(f.key, `${KEY}\n`, { mode: 0o600 });
  await writeFile(f.secret, SECRET, { mode: 0o600 });
  await writeFile(f.calls, "");
  return f;
}

async function writeConfig(inst: Instance, server: RequestRecorder, f: Files, budget: number): Promise<void> {
  await inst.writeConfig({ trap_ports: [23] });
  await appendFile(
    inst.configPath,
    `\n[http]\nenabled = true\nlisten = "127.0.0.1:9107"\n` +
      `\n[report]\nkey_file = "${f.key}"\nurl = "${server.url(REPORT)}"\ndaily_budget = ${budget}\n` +
      `\n[hooks]\non_ban = ["${f.script}", "ban"]\non_unban = "${server.url("/hook")}"\nsecret_file = "${f.secret}"\n`,
  );
}

const hookCalls = async (f: Files): Promise<string[][]> =>
  (await readFile(f.calls, "utf8")).split("\n").filter(Boolean).map((l) => l.split(" "));

interface ReportStats {
  queued: number;
  sent_24h: number;
  skipped_recent: number;
}

/** `iblock stats --json`: the reports' counts, and the event loop's longest stall since the last stats. */
async function daemonStats(inst: Instance): Promise<{ report: ReportStats; event_loop_max_ms: number }> {
  const r = await inst.cli("stats", ["--json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { daemon: { report: ReportStats; event_loop_max_ms: number } }).daemon;
}

const reportStats = async (inst: Instance): Promise<ReportStats> => (await daemonStats(inst)).report;

test("reports and hooks: exact requests, trap bans only, 15-minute rule, budget, kill -9 keeps the queue, batched storm", { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { manySources: true });
  const server = await RequestRecorder.start(topo, PORT);
  const inst = await createInstance(t, topo.host);
  const f = await hookFiles(inst);
  await writeConfig(inst, server, f, 3);
  const d = await inst.start();

  // An admin's ban: told to the hook, never reported.
  assert.equal((await inst.cli("ban", ["203.0.113.9", "--reason", "by hand"])).code, 0);
  // A trap ban: the scanner's next packet is dropped, and it is reported.
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await waitUntil(() => server.requests(REPORT).length >= 1, { timeoutMs: 20_000, what: "the report" });
  const [r] = server.requests(REPORT);
  assert.equal(r?.method, "POST");
  assert.equal(r?.headers.key, KEY);
  assert.equal(r?.headers.accept, "application/json");
  assert.match(r?.headers["content-type"] ?? "", /^application\/x-www-form-urlencoded/);
  const form = Object.fromEntries(new URLSearchParams(r?.body));
  assert.deepEqual(Object.keys(form).sort(), ["categories", "comment", "ip", "timestamp"]);
  assert.equal(form.ip, ADDR.scannerV4);
  assert.equal(form.categories, "14");
  assert.equal(form.comment, "Completed a TCP handshake to trap port 23/tcp, which no service listens on (iblock)");
  assert.ok(Math.abs(Date.parse(form.timestamp ?? "") - Date.now()) < 120_000, `timestamp ${form.timestamp}`);

  // The hook program got each ban, its address after the configured arguments.
  await waitUntil(async () => (await hookCalls(f)).flat().includes(ADDR.scannerV4), { timeoutMs: 20_000, what: "the hook's call" });
  // (Both may come in one call: bans within half a second go together.)
  const told = await hookCalls(f);
  assert.ok(told.every((c) => c[0] === "ban"), JSON.stringify(told));
  assert.deepEqual(told.flatMap((c) => c.slice(1)).sort(), ["192.0.2.2", "203.0.113.9"]);

  // An unban goes to the webhook: a JSON array, signed over timestamp and body.
  assert.equal((await inst.cli("unban", [ADDR.scannerV4])).code, 0);
  await waitUntil(() => server.requests("/hook").length >= 1, { timeoutMs: 20_000, what: "the webhook" });
  const w = server.requests("/hook")[0];
  assert.equal(w?.method, "POST");
  assert.equal(w?.headers["content-type"], "application/json");
  const stamp = w?.headers["x-iblock-timestamp"] ?? "";
  assert.ok(Math.abs(Number(stamp) - Date.now() / 1000) < 120, `timestamp ${stamp}`);
  assert.equal(w?.headers["x-iblock-signature"], `sha256=${createHmac("sha256", SECRET).update(`${stamp}.${w?.body}`).digest("hex")}`);
  const events = JSON.parse(w?.body ?? "") as { event: string; address: string; ending: string }[];
  assert.deepEqual(events.map((e) => [e.event, e.address, e.ending]), [["unban", ADDR.scannerV4, "unban"]]);

  // Banned again within 15 minutes: not reported again.
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await waitUntil(async () => (await reportStats(inst)).skipped_recent === 1, { timeoutMs: 20_000, what: "the second ban skipped" });
  assert.equal(server.requests(REPORT).length, 1);

  // A storm of trap bans: a handful of hook calls, not one each; the budget (3) holds the rest.
  const sources = Array.from({ length: STORM }, (_, i) => stormSource(i));
  const before = (await hookCalls(f)).length;
  await daemonStats(inst);
  const storm = await trapStorm(topo, sources, 23);
  assert.equal(storm.handshakes, STORM, JSON.stringify(storm));
  const stormed = new Set(sources);
  await waitUntil(async () => (await hookCalls(f)).flat().filter((a) => stormed.has(a)).length === STORM, { timeoutMs: 60_000, what: "every storm ban told to the hook" });
  const calls = (await hookCalls(f)).length - before;
  const stall = (await daemonStats(inst)).event_loop_max_ms;
  t.diagnostic(`${STORM} trap bans reached the hook program in ${calls} calls; the event loop's longest stall meanwhile ${stall} ms`);
  assert.ok(calls <= 20, `${STORM} bans in ${calls} hook calls`);
  await waitUntil(() => server.requests(REPORT).length === 3, { timeoutMs: 20_000, what: "the budget's 3 reports" });
  await waitUntil(async () => (await reportStats(inst)).queued === STORM - 2, { timeoutMs: 20_000, what: "the rest queued" });
  assert.deepEqual(await reportStats(inst), { ...(await reportStats(inst)), sent_24h: 3, queued: STORM - 2 });

  const text = await inst.cli("stats");
  assert.match(text.stdout, new RegExp(`^abuse reports: 3 of 3 sent in the last 24 h, ${STORM - 2} queued; since start 3 sent, 0 failed, 1 skipped \\(reported within 15 min\\), 0 dropped$`, "m"), text.stdout);
  assert.match(text.stdout, /^hook on_ban: \d+ call\(s\), 0 failed, 0 event\(s\) dropped, 0 waiting$/m, text.stdout);
  assert.match(text.stdout, /^hook on_unban: 1 call\(s\), 0 failed, 0 event\(s\) dropped, 0 waiting$/m, text.stdout);

  // The metrics say the same.
  const metrics = await exec(topo.host, [process.execPath, "-e", "fetch('http://127.0.0.1:9107/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
  assert.match(metrics.stdout, /^iblock_report_sent_total 3$/m);
  assert.match(metrics.stdout, new RegExp(`^iblock_report_queued ${STORM - 2}$`, "m"));
  assert.match(metrics.stdout, /^iblock_hook_calls_total\{hook="on_ban"\} \d+$/m);

  // kill -9, a larger budget: the queued reports go after the restart, none twice.
  await d.kill9();
  await writeConfig(inst, server, f, 6);
  await inst.start();
  await waitUntil(() => server.requests(REPORT).length === 6, { timeoutMs: 30_000, what: "3 more reports after the restart" });
  await sleep(1000);
  const ips = server.requests(REPORT).map((x) => new URLSearchParams(x.body).get("ip"));
  assert.equal(ips.length, 6, "no more than the budget");
  assert.equal(new Set(ips).size, 6, `no address reported twice: ${ips.join(", ")}`);
  assert.ok(ips.slice(1).every((ip) => ip !== null && stormed.has(ip)), ips.join(", "));
  assert.equal((await reportStats(inst)).queued, STORM - 5);
});
