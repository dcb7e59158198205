// The HTTP server of a real daemon in a test namespace ([http] enabled, on its
// loopback): /metrics read by a Prometheus text parser and checked against
// the bans the test made (kernel route hits from the scanner namespace, a ban
// and an unban through the API), the API's pages, filters and errors, the
// OpenAPI description against the answers, the blocklist's ETag, 304 and
// gzip, and the event stream receiving the bans as they happen.
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertTrapHit, waitDropped, waitListed } from "../support/checks.js";
import { createInstance, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Bridge, type HttpAnswer } from "../support/http-bridge.js";
import { ADDR, createTopology } from "../support/netns.js";
import { parseMetrics } from "../support/prometheus.js";

const TOKEN = "test-token-0123456789abcdef";
const AUTH = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

interface Page<T> {
  items: T[];
  next: number | null;
}
interface Ban {
  prefix: string;
  source: string;
}

void test("HTTP: metrics, API, blocklist and event stream agree with the bans made", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const inst = await createInstance(t, topo.host);
  const tokenFile = join(inst.dir, "token");
  await writeFile(tokenFile, TOKEN + "\n");
  await chmod(tokenFile, 0o600);
  await inst.writeConfig({ http: { enabled: true, token_file: tokenFile } } as unknown as IblockConfig);
  const d = await inst.start();
  await d.waitForLine(/http: serving .* on http:\/\/127\.0\.0\.1:9107\//, 10_000);
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const get = async (path: string, status = 200): Promise<HttpAnswer> => {
    const r = await http.request(path);
    assert.equal(r.status, status, `GET ${path}: ${r.text}\n${d.tail()}`);
    return r;
  };
  const stream = await http.events();
  t.after(() => stream.close());
  assert.equal(stream.res.headers["content-type"], "text/event-stream; charset=utf-8");

  // Bans: two trap hits (IPv4 on 23, IPv6 on 21), one network through the API.
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await assertTrapHit(topo, ADDR.scannerV6, 21, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await waitListed(inst, `${ADDR.scannerV4}/32`);
  await waitListed(inst, "2001:db8:0:1::/64");
  const banned = await http.request("/api/bans", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "198.51.100.0/24", reason: "from the API", time: "2h" }) });
  assert.equal(banned.status, 200, banned.text);
  assert.deepEqual(banned.json(), { banned: "198.51.100.0/24" });
  await waitListed(inst, "198.51.100.0/24");

  // The stream saw all three as they happened.
  for (const prefix of [ADDR.scannerV4, "2001:db8:0:1::/64", "198.51.100.0/24"]) {
    const e = await stream.waitFor((x) => x.event === "ban" && (JSON.parse(x.data) as Ban).prefix === prefix, 2000);
    if (prefix === "198.51.100.0/24") assert.equal((JSON.parse(e.data) as { reason: string }).reason, "from the API");
  }

  // /metrics against the list: every (family, source) of the bans in force.
  const listed = await inst.list();
  assert.equal(listed.length, 3, JSON.stringify(listed));
  const metrics = parseMetrics((await get("/metrics")).text);
  const expected = new Map<string, number>();
  for (const b of listed) {
    const key = `${b.prefix.includes(":") ? "ipv6" : "ipv4"}|${b.source}`;
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  for (const [key, n] of expected) {
    const [family = "", source = ""] = key.split("|");
    assert.equal(metrics.value("iblock_bans_active", { family, source }), n, `iblock_bans_active{family=${family},source=${source}}`);
  }
  const activeTotal = metrics.families.find((f) => f.name === "iblock_bans_active")?.metrics.reduce((n, m) => n + Number(m.value), 0);
  assert.equal(activeTotal, 3, "no other bans in force are counted");
  assert.equal(metrics.value("iblock_bans_total", { source: "api" }), 1);
  assert.ok((metrics.value("iblock_hits_total", { port: "23" }) ?? 0) >= 1, "hits on port 23 counted");
  assert.ok((metrics.value("iblock_hits_total", { port: "21" }) ?? 0) >= 1, "hits on port 21 counted");
  assert.ok((metrics.value("iblock_ban_latency_seconds") ?? 0) >= 2, "the trap bans' latency observed");
  assert.ok((metrics.value("iblock_firewall_update_duration_seconds") ?? 0) >= 1, "firewall updates timed");
  for (const name of ["iblock_queue_depth", "iblock_seen_set_fill_ratio", "iblock_reconcile_runs_total", "nodejs_eventloop_lag_seconds", "process_resident_memory_bytes"]) {
    assert.ok(metrics.families.some((f) => f.name === name), `${name} is there`);
  }

  // /api/stats
  const stats = (await get("/api/stats")).json<{ active: number; bans_last_24h: number; top_ports: { port: number }[]; top_networks: { network: string }[]; health: Record<string, { ok: boolean }> }>();
  assert.equal(stats.active, 3);
  assert.equal(stats.bans_last_24h, 3);
  assert.ok(stats.top_ports.some((p) => p.port === 23) && stats.top_ports.some((p) => p.port === 21), JSON.stringify(stats.top_ports));
  assert.ok(stats.top_networks.some((n) => n.network === "192.0.2.0/16" || n.network === "192.0.0.0/16"), JSON.stringify(stats.top_networks));
  for (const part of ["daemon", "firewall", "store", "kernel_route", "reconcile"]) assert.equal(stats.health[part]?.ok, true, `${part}: ${JSON.stringify(stats.health)}`);

  // /api/bans: pages of one, filters.
  const seen: string[] = [];
  let after = 0;
  for (let i = 0; i < 5; i++) {
    const page = (await get(`/api/bans?limit=1&after=${after}`)).json<Page<Ban>>();
    seen.push(...page.items.map((b) => b.prefix));
    if (page.next === null) break;
    after = page.next;
  }
  assert.deepEqual(seen.sort(), listed.map((b) => b.prefix).sort(), "the pages hold every ban once");
  const prefixes = async (q: string): Promise<string[]> => (await get(`/api/bans?${q}`)).json<Page<Ban>>().items.map((b) => b.prefix).sort();
  assert.deepEqual(await prefixes("source=api"), ["198.51.100.0/24"]);
  assert.deepEqual(await prefixes(`prefix=${encodeURIComponent("2001:db8::/32")}`), ["2001:db8:0:1::/64"]);
  assert.deepEqual(await prefixes(`prefix=${encodeURIComponent("198.51.0.0/16")}`), ["198.51.100.0/24"]);
  assert.equal((await prefixes("since=1h")).length, 3);
  assert.equal((await prefixes("since=2099-01-01")).length, 0);
  for (const [q, words] of [
    ["limit=0", /bad limit "0": expected a whole number, 1-1000/],
    ["limit=abc", /bad limit/],
    ["prefix=999.1.1.1", /bad prefix: not an IP address or CIDR/],
    ["prefix=198.51.100.1/24", /host bits set/],
    ["since=soon", /bad since "soon"/],
    ["source=Robert%27)", /bad source/],
  ] as const) {
    const r = await get(`/api/bans?${q}`, 400);
    assert.match(r.json<{ error: string }>().error, words, q);
  }

  // /api/bans/ADDR: what `iblock show` says, a CIDR with its slash as is.
  const show = (await get(`/api/bans/${ADDR.scannerV4}`)).json<{ prefixes: { banned: boolean; ports: { port: number }[] }[] }>();
  assert.equal(show.prefixes[0]?.banned, true);
  assert.ok(show.prefixes[0]?.ports.some((p) => p.port === 23));
  assert.equal((await get("/api/bans/198.51.100.0/24")).json<{ prefixes: { banned: boolean }[] }>().prefixes[0]?.banned, true);
  assert.match((await get("/api/bans/not-an-address", 400)).json<{ error: string }>().error, /not an IP address or CIDR/);

  // /api/events: newest first, paged by id.
  const ev1 = (await get("/api/events?kind=ban&limit=2")).json<Page<{ id: number; kind: string; prefix: string }>>();
  assert.equal(ev1.items.length, 2);
  assert.ok(ev1.items.every((e) => e.kind === "ban"));
  assert.equal(ev1.items[0]?.prefix, "198.51.100.0/24", "newest first");
  assert.notEqual(ev1.next, null);
  const ev2 = (await get(`/api/events?kind=ban&limit=2&before=${ev1.next ?? 0}`)).json<Page<{ id: number }>>();
  assert.equal(ev2.items.length, 1);
  assert.ok((ev2.items[0]?.id ?? Infinity) < (ev1.items[1]?.id ?? 0));
  await get("/api/events?kind=everything", 400);

  // The blocklist: header, one line per ban, ETag, 304, gzip.
  const list = await get("/blocklist.txt");
  assert.match(list.text, /^# iblock blocklist.*\n# updated \d{4}-\d\d-\d\dT[\d:.]+Z, 3 entries\n/);
  const lines = (text: string): string[] => text.split("\n").filter((l) => l && !l.startsWith("#")).sort();
  assert.deepEqual(lines(list.text), ["192.0.2.2", "198.51.100.0/24", "2001:db8:0:1::/64"]);
  const etag = list.headers.etag ?? "";
  assert.match(etag, /^"[^"]+"$/);
  const cached = await http.request("/blocklist.txt", { headers: { "if-none-match": etag } });
  assert.equal(cached.status, 304);
  assert.equal(cached.raw.length, 0);
  const gz = await http.request("/blocklist.txt", { headers: { "accept-encoding": "gzip, deflate" } });
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.equal(gz.raw[0], 0x1f, "gzip magic");
  assert.equal(gz.text, list.text);
  const asJson = (await get("/blocklist.json")).json<{ prefix: string; expires: string | null }[]>();
  assert.deepEqual(asJson.map((b) => b.prefix).sort(), listed.map((b) => b.prefix).sort());
  assert.notEqual((await get("/blocklist.json")).headers.etag, etag, "txt and json have their own tags");

  // An unban through the API: the stream, the metrics and the blocklist follow.
  const lifted = await http.request("/api/bans/198.51.100.0/24", { method: "DELETE", headers: { authorization: AUTH.authorization } });
  assert.equal(lifted.status, 200, lifted.text);
  assert.deepEqual(lifted.json(), { prefix: "198.51.100.0/24", was_banned: true });
  await stream.waitFor((x) => x.event === "unban" && (JSON.parse(x.data) as Ban).prefix === "198.51.100.0/24", 2000);
  const after304 = await http.request("/blocklist.txt", { headers: { "if-none-match": etag } });
  assert.equal(after304.status, 200, "the old tag no longer matches");
  assert.deepEqual(lines(after304.text), ["192.0.2.2", "2001:db8:0:1::/64"]);
  const m2 = parseMetrics((await get("/metrics")).text);
  assert.equal(m2.value("iblock_unbans_total", { reason: "unban" }), 1);
  assert.equal(m2.value("iblock_bans_active", { family: "ipv4", source: "api" }), 0, "no API ban left in force");
});

void test("HTTP: the OpenAPI description matches the server's answers", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host, { http: { enabled: true } } as unknown as IblockConfig);
  const d = await inst.start();
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const r = await http.request("/api/openapi.json");
  assert.equal(r.status, 200);
  const doc = r.json<{ openapi: string; paths: Record<string, Record<string, { parameters?: { required?: boolean; in: string }[]; responses: Record<string, { content?: Record<string, unknown> }> }>> }>();
  assert.match(doc.openapi, /^3\.1\./);
  const documented = new Set<string>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      documented.add(`${method.toUpperCase()} ${path}`);
      const url = path.replace("{addr}", ADDR.scannerV4);
      if (method !== "get") {
        // Changes need the token; the route is there and says so.
        const a = await http.request(url, { method: method.toUpperCase(), headers: { "content-type": "application/json" }, body: method === "post" ? "{}" : undefined });
        assert.ok(Object.keys(op.responses).includes(String(a.status)), `${method} ${path}: ${a.status} is documented`);
        continue;
      }
      if (path === "/api/events/stream") continue; // never ends; the other test reads it
      const a = await http.request(url);
      assert.equal(a.status, 200, `GET ${path}: ${a.text.slice(0, 200)}\n${d.tail()}`);
      const types = Object.keys(op.responses["200"]?.content ?? {});
      assert.ok(types.some((type) => (a.headers["content-type"] ?? "").startsWith(type)), `GET ${path}: ${String(a.headers["content-type"])} is one of ${types.join(", ")}`);
      if (types.includes("application/json")) assert.doesNotThrow(() => a.json(), `GET ${path} is JSON`);
    }
  }
  assert.ok(documented.has("POST /api/bans") && documented.has("DELETE /api/bans/{addr}") && documented.has("GET /api/events/stream"));
  // Anything else under /api is not there.
  assert.equal((await http.request("/api/nothing")).status, 404);
});
