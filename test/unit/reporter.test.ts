// The abuse reporter against a real store and a fake clock: only bans this
// host proved are queued, the 15-minute rule, the daily budget, a 429's
// wait, a failure's retries (never more than MAX_ATTEMPTS), the exact form.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import type { BanChange } from "../../src/bans/changes.js";
import { Logger } from "../../src/log.js";
import { parsePrefix } from "../../src/net/address.js";
import { sendReport, type AbuseReport, type ReportOutcome } from "../../src/report/abuseipdb.js";
import { isHitSource } from "../../src/bans/rules.js";
import { isProvenHit } from "../../src/bans/proven-sources.js";
import { MAX_ATTEMPTS, Reporter } from "../../src/report/reporter.js";
import { ReportQueue } from "../../src/store/report-queue.js";
import { Store } from "../../src/store/store.js";

const MIN = 60_000;
const T0 = Date.parse("2026-12-01T10:00:00Z");

function ban(address: string, source = "kernel", at = T0, port: number | null = 23): Extract<BanChange, { kind: "ban" }> {
  return { kind: "ban", prefix: parsePrefix(address), source, reason: null, port, expiresAt: at + 86_400_000, at };
}

/** A reporter whose sends are answered by `answer`, on a clock the test moves. */
function setUp(answer: (r: AbuseReport) => ReportOutcome, budget = 1000) {
  const clock = { now: T0 };
  const sent: AbuseReport[] = [];
  const lines: string[] = [];
  const store = new Store(":memory:");
  const queue = new ReportQueue(store.database);
  const reporter = new Reporter(
    queue,
    {
      budget,
      now: () => clock.now,
      send: (r) => {
        sent.push(r);
        return Promise.resolve(answer(r));
      },
    },
    new Logger((l) => lines.push(l)),
  );
  /** Let the batched write and the sends run. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    reporter.kick();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  return { clock, sent, lines, queue, reporter, settle, db: store.database };
}

test("only trap-proved single-address bans are queued: never syn, feed, peer, manual, imported, adopted, nor a /64", async (t) => {
  const s = setUp(() => ({ kind: "sent" }));
  t.after(() => s.reporter.stop(0));
  for (const source of ["syn", "feed:drop", "peer", "cli", "api", "local", "import", "adopted", "aggregate"]) s.reporter.onChange(ban("192.0.2.1", source));
  s.reporter.onChange(ban("2001:db8:1::/64", "kernel"));
  s.reporter.onChange({ ...ban("192.0.2.2", "trap"), renewed: true });
  await s.settle();
  assert.equal(s.sent.length, 0);
  for (const source of ["trap", "kernel", "inetd"]) s.reporter.onChange(ban(`192.0.2.${source.length}`, source));
  s.reporter.onChange(ban("2001:db8::7", "kernel"));
  await s.settle();
  assert.deepEqual(s.sent.map((r) => r.address).sort(), ["192.0.2.4", "192.0.2.5", "192.0.2.6", "2001:db8::7"]);
});

test("one report per address per 15 minutes, whatever the bans in between", async (t) => {
  const s = setUp(() => ({ kind: "sent" }));
  t.after(() => s.reporter.stop(0));
  s.reporter.onChange(ban("198.51.100.9"));
  await s.settle();
  s.clock.now += 14 * MIN;
  s.reporter.onChange(ban("198.51.100.9", "kernel", s.clock.now));
  await s.settle();
  assert.equal(s.sent.length, 1);
  assert.equal(s.reporter.status().skipped_recent, 1);
  s.clock.now += 1 * MIN + 1;
  s.reporter.onChange(ban("198.51.100.9", "kernel", s.clock.now));
  await s.settle();
  assert.equal(s.sent.length, 2, "15 minutes after the first report, the next one goes");
});

test("the daily budget: a rolling 24 h; what is over it waits in the queue and goes when the window frees; a day-old one is dropped", async (t) => {
  const s = setUp(() => ({ kind: "sent" }), 2);
  t.after(() => s.reporter.stop(0));
  for (const a of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) s.reporter.onChange(ban(a));
  await s.settle();
  assert.equal(s.sent.length, 2);
  assert.deepEqual({ queued: s.reporter.status().queued, sent_24h: s.reporter.status().sent_24h }, { queued: 1, sent_24h: 2 });
  s.clock.now += 12 * 60 * MIN;
  s.reporter.onChange(ban("203.0.113.4", "kernel", s.clock.now));
  await s.settle();
  assert.equal(s.sent.length, 2, "still within the day's budget");
  s.clock.now += 12 * 60 * MIN + 1;
  await s.settle();
  // The day's first reports left the window: .4 goes; .3, banned a day ago, is stale.
  assert.deepEqual(s.sent.map((r) => r.address), ["203.0.113.1", "203.0.113.2", "203.0.113.4"]);
  assert.deepEqual({ queued: s.reporter.status().queued, dropped: s.reporter.status().dropped, sent_24h: s.reporter.status().sent_24h }, { queued: 0, dropped: 1, sent_24h: 1 });
});

test("429: nothing more until Retry-After has passed; the report goes then", async (t) => {
  let limited = true;
  const s = setUp(() => (limited ? { kind: "rate-limited", retryAfterMs: 10 * MIN } : { kind: "sent" }));
  t.after(() => s.reporter.stop(0));
  s.reporter.onChange(ban("203.0.113.50"));
  await s.settle();
  assert.equal(s.sent.length, 1);
  assert.ok(s.reporter.status().paused_until);
  limited = false;
  s.clock.now += 9 * MIN;
  await s.settle();
  assert.equal(s.sent.length, 1, "no request while the 429 holds");
  s.clock.now += 1 * MIN;
  await s.settle();
  assert.equal(s.sent.length, 2);
  assert.equal(s.reporter.status().sent, 1);
  assert.equal(s.reporter.status().queued, 0);
});

test("failures: retried after the backoff, at most MAX_ATTEMPTS times, then dropped and counted; a 4xx at once", async (t) => {
  const s = setUp((r) => (r.address === "203.0.113.60" ? { kind: "failed", detail: "connection refused" } : { kind: "refused", status: 422, detail: "{}" }));
  t.after(() => s.reporter.stop(0));
  s.reporter.onChange(ban("203.0.113.60"));
  await s.settle();
  for (let i = 0; i < 20; i++) {
    s.clock.now += 11 * MIN;
    await s.settle();
  }
  assert.equal(s.sent.length, MAX_ATTEMPTS);
  assert.deepEqual({ failed: s.reporter.status().failed, queued: s.reporter.status().queued }, { failed: 1, queued: 0 });
  s.reporter.onChange(ban("203.0.113.61", "kernel", s.clock.now));
  await s.settle();
  assert.equal(s.sent.length, MAX_ATTEMPTS + 1, "a refusal is not tried again");
  assert.equal(s.reporter.status().failed, 2);
});

test("the request: POST, Key and Accept headers, ip, categories 14, the trap port in the comment, the ban's time", async (t) => {
  const seen: { method?: string; url?: string; headers: Record<string, unknown>; body: string }[] = [];
  let status = 200;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.statusCode = status;
      if (status === 429) res.setHeader("Retry-After", "120");
      res.end('{"data":{}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/report`;
  assert.deepEqual(await sendReport(url, "k3y", { address: "192.0.2.77", port: 3389, at: T0 }), { kind: "sent" });
  const r = seen[0];
  assert.equal(r?.method, "POST");
  assert.equal(r?.url, "/api/v2/report");
  assert.equal(r?.headers.key, "k3y");
  assert.equal(r?.headers.accept, "application/json");
  assert.match(String(r?.headers["content-type"]), /^application\/x-www-form-urlencoded/);
  const form = Object.fromEntries(new URLSearchParams(r?.body));
  assert.deepEqual(form, {
    ip: "192.0.2.77",
    categories: "14",
    comment: "Completed a TCP handshake to trap port 3389/tcp, which no service listens on (iblock)",
    timestamp: "2026-12-01T10:00:00.000Z",
  });
  status = 429;
  assert.deepEqual(await sendReport(url, "k3y", { address: "192.0.2.77", port: 3389, at: T0 }), { kind: "rate-limited", retryAfterMs: 120_000 });
  status = 401;
  assert.equal((await sendReport(url, "k3y", { address: "192.0.2.77", port: 3389, at: T0 })).kind, "refused");
  status = 503;
  assert.equal((await sendReport(url, "k3y", { address: "192.0.2.77", port: 3389, at: T0 })).kind, "failed");
});

test("at start, a recent trap ban whose report was never queued (kill -9 in between) is queued; nothing else", async (t) => {
  const s = setUp(() => ({ kind: "sent" }));
  t.after(() => s.reporter.stop(0));
  for (const source of ["trap", "kernel", "inetd", "syn", "cli", "api", "local", "peer", "feed:x", "import", "adopted", "aggregate"]) {
    assert.equal(isProvenHit(source), isHitSource(source) && source !== "syn", source);
  }
  const db = s.db;
  const insert = db.prepare("INSERT INTO bans (prefix, first_seen, last_seen, port, source) VALUES (?, ?, ?, 23, ?)");
  const row = (prefix: string, ago: number, source = "kernel"): void => void insert.run(prefix, T0 - ago, T0 - ago, source);
  row("192.0.2.10/32", 5 * MIN);
  row("192.0.2.11/32", 5 * MIN, "cli");
  row("192.0.2.12/32", 20 * MIN);
  row("2001:db8::/64", 5 * MIN);
  row("192.0.2.14/32", 5 * MIN);
  db.prepare("INSERT INTO report_sent (prefix, at) VALUES ('192.0.2.14/32', ?)").run(T0 - 6 * MIN);
  s.reporter.start();
  await s.settle();
  assert.deepEqual(s.sent.map((r) => [r.address, r.port, r.at]), [["192.0.2.10", 23, T0 - 5 * MIN]]);
});
