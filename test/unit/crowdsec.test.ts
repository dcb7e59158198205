import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { BanChanges } from "../../src/bans/changes.js";
import { CrowdsecAlerts } from "../../src/crowdsec/pusher.js";
import { Logger } from "../../src/log.js";
import { alertOf } from "../../src/crowdsec/alerts.js";
import { readStreamReply } from "../../src/crowdsec/decisions.js";
import { goSeconds, parseGoDuration } from "../../src/crowdsec/go-duration.js";
import { parsePrefix } from "../../src/net/address.js";

test("Go durations as CrowdSec writes them", () => {
  assert.equal(parseGoDuration("4h"), 4 * 3_600_000);
  assert.equal(parseGoDuration("3h59m59.5s"), 4 * 3_600_000 - 500);
  assert.ok(Math.abs(parseGoDuration("3h59m59.439437443s")! - (4 * 3_600_000 - 560.562557)) < 1e-6);
  assert.ok(Math.abs(parseGoDuration("-18.357295ms")! + 18.357295) < 1e-9);
  assert.equal(parseGoDuration("1.5h"), 5_400_000);
  assert.equal(parseGoDuration("300µs"), 0.3);
  assert.equal(parseGoDuration("0"), 0);
  for (const bad of ["", "4", "h", "4d", "4h ", " 4h", "4h-3m", "1e3s", "NaNs", "9".repeat(30) + "h", "100000000h", "4h\n"]) {
    assert.equal(parseGoDuration(bad), undefined, JSON.stringify(bad));
  }
  assert.equal(goSeconds(4 * 3_600_000), "14400s");
  assert.equal(goSeconds(10), "1s");
});

test("the stream's reply: Ip and Range bans kept, other scopes and types counted, a wrong shape refused whole", () => {
  const d = readStreamReply(
    JSON.stringify({
      new: [
        { duration: "3h59m59s", id: 1, origin: "cscli", scenario: "test", scope: "Ip", type: "ban", value: "198.51.100.7" },
        { duration: "1h", scope: "Range", type: "ban", value: "198.51.100.0/28", scenario: "r" },
        { duration: "1h", scope: "Country", type: "ban", value: "FR" },
        { duration: "1h", scope: "Ip", type: "captcha", value: "198.51.100.8" },
        { duration: "forever", scope: "Ip", type: "ban", value: "198.51.100.9" },
        { scope: "Ip", type: "ban", value: 7, duration: "1h" },
        "198.51.100.10",
      ],
      deleted: null,
    }),
  );
  assert.deepEqual(
    d.new.map((x) => x.value),
    ["198.51.100.7", "198.51.100.0/28"],
  );
  assert.equal(d.new[0]?.leftMs, 4 * 3_600_000 - 1_000);
  assert.deepEqual(d.deleted, []);
  assert.deepEqual(d.ignored, { scope: 1, type: 1, malformed: 3 });
  assert.deepEqual(readStreamReply('{"deleted":null,"new":null}').new, []);
  assert.throws(() => readStreamReply("<html>"), /not JSON/);
  assert.throws(() => readStreamReply("[]"), /not an object/);
  assert.throws(() => readStreamReply('{"new": {"a": 1}}'), /"new" is not a list/);
});

test("an alert: every field CrowdSec requires, the trap port in the event's meta, the ban as its decision", () => {
  const at = Date.parse("2026-01-02T03:04:05.678Z");
  const a = alertOf({ prefix: parsePrefix("203.0.113.9"), port: 23, at, expiresAt: at + 3_600_000 }, at);
  assert.equal(a.scenario, "iblock/trap-port");
  assert.equal(a.start_at, "2026-01-02T03:04:05Z");
  assert.deepEqual(a.source, { scope: "Ip", value: "203.0.113.9", ip: "203.0.113.9" });
  assert.deepEqual(a.decisions, [{ origin: "crowdsec", type: "ban", scope: "Ip", value: "203.0.113.9", duration: "3600s", scenario: "iblock/trap-port" }]);
  assert.deepEqual((a.events as { meta: unknown[] }[])[0]?.meta[0], { key: "dest_port", value: "23" });
  for (const k of ["scenario_hash", "scenario_version", "message", "events_count", "stop_at", "capacity", "leakspeed", "simulated"]) assert.ok(k in a, k);
  const v6 = alertOf({ prefix: parsePrefix("2001:db8:1:2::/64"), port: null, at, expiresAt: null }, at);
  assert.deepEqual(v6.source, { scope: "Range", value: "2001:db8:1:2::/64", range: "2001:db8:1:2::/64" });
  assert.equal((v6.decisions as { duration: string }[])[0]?.duration, `${10 * 365 * 24 * 3600}s`);
});

// A stand-in Local API (CrowdSec itself is tested in test/integration/crowdsec.test.ts):
// what [crowdsec] sends, which bans it leaves out, and its bounded queue.
test("[crowdsec]: proven trap bans sent in one batch after a login; syn, feed, peer and manual bans never; a full queue drops and counts", async (t) => {
  const requests: { path: string; auth: string | undefined; agent: string | undefined; body: unknown }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      requests.push({ path: req.url ?? "", auth: req.headers.authorization, agent: req.headers["user-agent"], body: JSON.parse(body) as unknown });
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/watchers/login") res.end(JSON.stringify({ code: 200, expire: new Date(Date.now() + 3_600_000).toISOString(), token: "a.b.c" }));
      else res.end('["1"]');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const lines: string[] = [];
  const alerts = new CrowdsecAlerts({ url: `http://127.0.0.1:${port}`, login: "iblock", password_file: "/unused", max_queue: 3 }, "pw", new Logger((l) => lines.push(l)));
  const changes = new BanChanges();
  alerts.start(changes);
  const ban = (address: string, source: string): void =>
    changes.emit({ kind: "ban", prefix: parsePrefix(address), source, reason: null, port: 23, expiresAt: Date.now() + 3_600_000, at: Date.now() });
  for (const source of ["syn", "feed:cs", "peer", "cli", "api", "import", "adopted"]) ban("198.51.100.1", source);
  ban("203.0.113.1", "kernel");
  ban("203.0.113.2", "trap");
  ban("203.0.113.3", "inetd");
  ban("203.0.113.4", "kernel");
  ban("203.0.113.5", "kernel");
  assert.equal(alerts.counts.dropped, 2);
  assert.equal(lines.filter((l) => /new ones are dropped/.test(l)).length, 1, "said once");
  await waitFor(() => alerts.counts.sent === 3);
  assert.deepEqual(
    requests.map((r) => r.path),
    ["/v1/watchers/login", "/v1/alerts"],
  );
  assert.deepEqual(requests[0]?.body, { machine_id: "iblock", password: "pw", scenarios: ["iblock/trap-port"] });
  assert.match(requests[0]?.agent ?? "", /^iblock\/\S+$/, "CrowdSec takes NAME/VERSION only");
  assert.equal(requests[1]?.auth, "Bearer a.b.c");
  const sent = requests[1]?.body as { source: { value: string } }[];
  assert.deepEqual(
    sent.map((a) => a.source.value),
    ["203.0.113.1", "203.0.113.2", "203.0.113.3"],
  );
  await alerts.stop();
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), "in time");
}
