// The HTTP server's rules, against a real daemon in a test namespace: every
// change needs the bearer token (401 without, 403 wrong, 403 when no
// token_file is set), malformed and oversized bodies are 4xx and change
// nothing, the same validation as `iblock ban` (malformed and allowed
// addresses, bad times), a rate limit; a listen address beyond loopback is
// refused without TLS or allow_insecure_remote, a token file others may read
// is refused, and with allow_insecure_remote (or TLS) another host reaches it.
// With read_token_file, every route the OpenAPI description marks (all but
// /metrics) and unknown paths need a token, the dashboard's files stay open
// and hold no data, the read token cannot ban; reads and the blocklist each
// have a per-client budget a minute (429 with Retry-After).
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { BLOCKLISTS_PER_MINUTE, READS_PER_MINUTE } from "../../src/http/access.js";
import { createInstance, EX, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Bridge } from "../support/http-bridge.js";
import { ADDR, createTopology, exec } from "../support/netns.js";
import { run } from "../support/proc.js";

const TOKEN = "security-test-token-0123456789";
const JSON_TYPE = { "content-type": "application/json" };
const AUTH = { authorization: `Bearer ${TOKEN}`, ...JSON_TYPE };

const httpConfig = (http: Record<string, unknown>): IblockConfig => ({ http: { enabled: true, ...http } }) as unknown as IblockConfig;

async function tokenFile(dir: string, mode = 0o600, token = TOKEN, name = "token"): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, token + "\n");
  await chmod(file, mode);
  return file;
}

// A GET from the scanner namespace, over the veth: another host.
const REMOTE_GET = String.raw`
const [url] = process.argv.slice(1);
const mod = url.startsWith("https") ? require("node:https") : require("node:http");
mod.get(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
  let n = 0; res.on("data", (b) => (n += b.length)); res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, bytes: n })));
}).on("error", (e) => console.log(JSON.stringify({ error: e.code || e.message })));
`;

void test("HTTP: changes need the token; bad requests are 4xx and change nothing; rate limit", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host);
  await inst.writeConfig({ ...httpConfig({ token_file: await tokenFile(inst.dir), rate_limit: 40 }), allow: ["203.0.113.0/24"] });
  const d = await inst.start();
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const ban = JSON.stringify({ address: "198.51.100.7" });
  let changes = 0;
  const expect = async (what: string, opts: Parameters<Bridge["request"]>[1] & { path?: string }, status: number, words?: RegExp): Promise<void> => {
    if (opts.method === "POST" || opts.method === "DELETE") changes++;
    const r = await http.request(opts.path ?? "/api/bans", opts);
    assert.equal(r.status, status, `${what}: ${r.text}\n${d.tail()}`);
    if (words) assert.match(r.json<{ error: string }>().error, words, what);
  };

  await expect("POST without a token", { method: "POST", headers: JSON_TYPE, body: ban }, 401, /needs the token/);
  await expect("POST with a wrong token", { method: "POST", headers: { ...JSON_TYPE, authorization: "Bearer not-the-token-at-all" }, body: ban }, 403, /wrong token/);
  await expect("POST with a token of another scheme", { method: "POST", headers: { ...JSON_TYPE, authorization: `Basic ${TOKEN}` }, body: ban }, 401);
  await expect("DELETE without a token", { method: "DELETE", path: "/api/bans/198.51.100.7" }, 401);
  await expect("DELETE with a wrong token", { method: "DELETE", path: "/api/bans/198.51.100.7", headers: { authorization: "Bearer nope-nope-nope-nope" } }, 403);
  await expect("an oversized body", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "198.51.100.7", reason: "x".repeat(100_000) }) }, 413);
  await expect("malformed JSON", { method: "POST", headers: AUTH, body: '{"address": "198.51.100.7"' }, 400);
  await expect("not JSON", { method: "POST", headers: { ...AUTH, "content-type": "text/plain" }, body: "198.51.100.7" }, 415);
  await expect("an unknown key", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "198.51.100.7", then: "reboot" }) }, 400);
  await expect("no address", { method: "POST", headers: AUTH, body: JSON.stringify({ reason: "x" }) }, 400, /address/);
  await expect("an address that is a command", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "203.0.113.9; reboot" }) }, 400, /not an IP address or CIDR: "203\.0\.113\.9; reboot"/);
  await expect("an allowed address", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "203.0.113.9" }) }, 403, /refusing to ban/);
  await expect("loopback", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "127.0.0.1" }) }, 403, /refusing to ban/);
  await expect("a bad time", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "198.51.100.7", time: "soon" }) }, 400, /bad ban time "soon"/);
  await expect("a malformed unban", { method: "DELETE", path: "/api/bans/198.51.100.7;reboot", headers: { authorization: AUTH.authorization } }, 400, /not an IP address/);

  // Nothing was banned, and the daemon is fine.
  assert.deepEqual(await inst.list(), []);
  assert.ok(d.running, d.tail());
  assert.equal((await http.request("/metrics")).status, 200);
  // DNS rebinding: a page whose name now points at 127.0.0.1 sends its own name as Host.
  for (const host of ["evil.example", "evil.example:9107", "127.0.0.1.evil.example"]) {
    const r = await http.request("/api/bans", { headers: { host } });
    assert.equal(r.status, 403, `Host ${host}: ${r.text}`);
  }
  for (const host of ["localhost:9107", "127.0.0.1:9107", "[::1]:9107"]) assert.equal((await http.request("/api/stats", { headers: { host } })).status, 200, host);

  // The rate limit is one budget per client and minute for bans and unbans
  // together, good requests and bad alike: the ones above count too.
  let limited = 0;
  let sent = changes;
  for (let i = 0; i < 60 && limited === 0; i++) {
    sent++;
    const unban = i % 2 === 1;
    const r = unban ? await http.request("/api/bans/198.51.100.7", { method: "DELETE" }) : await http.request("/api/bans", { method: "POST", headers: JSON_TYPE, body: ban });
    if (r.status === 429) limited = sent;
    else assert.equal(r.status, 401);
  }
  assert.equal(limited, 41, "the 41st change (bans and unbans together) within a minute is refused (rate_limit = 40)");
  const unban = await http.request("/api/bans/198.51.100.7", { method: "DELETE", headers: { authorization: AUTH.authorization } });
  assert.equal(unban.status, 429, "unban shares the spent budget, even with the token");
  assert.equal((await http.request("/api/stats")).status, 200, "reading is not limited");
});

void test("HTTP: without token_file every change is refused, reading works", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host, httpConfig({}));
  const d = await inst.start();
  await d.waitForLine(/ban and unban off: no token_file/, 10_000);
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  for (const [method, path] of [["POST", "/api/bans"], ["DELETE", "/api/bans/198.51.100.7"]] as const) {
    const r = await http.request(path, { method, headers: { ...AUTH }, body: method === "POST" ? JSON.stringify({ address: "198.51.100.7" }) : undefined });
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    assert.match(r.json<{ error: string }>().error, /changes over HTTP are off: set token_file/);
  }
  assert.equal((await http.request("/api/bans")).status, 200);
  assert.deepEqual(await inst.list(), []);
});

void test("HTTP: beyond loopback only with TLS or allow_insecure_remote; a token file others may read is refused", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "openssl"])) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host);
  const remote = `${ADDR.hostV4}:9107`;

  // Refused before anything is bound, with what to do.
  await inst.writeConfig(httpConfig({ listen: remote }));
  let r = await inst.cli("run", [], 15_000);
  assert.equal(r.code, EX.CONFIG, r.stderr);
  assert.match(r.stderr, /\[http\] key "listen": 192\.0\.2\.1:9107 is not a loopback address: give tls_cert and tls_key, or set allow_insecure_remote = true/);
  await inst.writeConfig(httpConfig({ token_file: await tokenFile(inst.dir, 0o644) }));
  r = await inst.cli("run", [], 15_000);
  assert.equal(r.code, EX.CONFIG, r.stderr);
  assert.match(r.stderr, /token_file: .*token has mode 0644: expected 0600 or 0400 \(its group or others may read it/);
  await inst.writeConfig(httpConfig({ listen: "localhost:9107" }));
  r = await inst.cli("run", [], 15_000);
  assert.equal(r.code, EX.CONFIG, r.stderr);
  assert.match(r.stderr, /key "listen": value "localhost:9107" is not valid: expected an IP address and a port/);

  // Said explicitly: plain HTTP, and the scanner namespace (another host) reaches it.
  await inst.writeConfig(httpConfig({ listen: remote, allow_insecure_remote: true }));
  let d = await inst.start();
  const plain = await exec(topo.scanner, [process.execPath, "-e", REMOTE_GET, `http://${remote}/metrics`]);
  assert.deepEqual(Object.keys(JSON.parse(plain.stdout) as object), ["status", "bytes"], plain.stdout);
  assert.equal((JSON.parse(plain.stdout) as { status: number }).status, 200);
  await d.stop();

  // With TLS: https answers, plain HTTP does not.
  const cert = join(inst.dir, "cert.pem");
  const key = join(inst.dir, "key.pem");
  await run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=iblock-test", "-keyout", key, "-out", cert]);
  await inst.writeConfig(httpConfig({ listen: `${ADDR.hostV4}:9443`, tls_cert: cert, tls_key: key }));
  // A private key everyone may read is refused before anything listens.
  await chmod(key, 0o644);
  const loose = await inst.start({ waitReady: false });
  assert.equal((await loose.proc.exited).code, 78, loose.tail());
  assert.match(loose.tail(), /tls_key: .*key\.pem has mode 0644: everyone may read the private key/);
  await chmod(key, 0o600);
  d = await inst.start();
  await d.waitForLine(/serving .* on https:\/\/192\.0\.2\.1:9443\//, 10_000);
  const tls = await exec(topo.scanner, [process.execPath, "-e", REMOTE_GET, `https://${ADDR.hostV4}:9443/api/stats`]);
  assert.equal((JSON.parse(tls.stdout) as { status: number }).status, 200, tls.stdout);
  const notTls = await exec(topo.scanner, [process.execPath, "-e", REMOTE_GET, `http://${ADDR.hostV4}:9443/api/stats`]);
  assert.notEqual((JSON.parse(notTls.stdout) as { status?: number }).status, 200, notTls.stdout);
});

const READ_TOKEN = "security-test-read-token-9876543210";

void test("HTTP: with read_token_file every read needs a token (401 none, 403 wrong); /metrics and the dashboard's files stay open", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host);
  await inst.writeConfig(httpConfig({ token_file: await tokenFile(inst.dir), read_token_file: await tokenFile(inst.dir, 0o600, READ_TOKEN, "read-token") }));
  const d = await inst.start();
  await d.waitForLine(/serving .*\(reads need a token: read_token_file\)/, 10_000);
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const banned = await http.request("/api/bans", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "198.51.100.7" }) });
  assert.equal(banned.status, 200, banned.text);

  const doc = (await http.request("/api/openapi.json", { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json<{
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  }>();
  const reads = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([method]) => method === "get").map(([, op]) => ({ path, op })));
  assert.deepEqual(reads.filter((r) => !r.op.security).map((r) => r.path), ["/metrics"], "every read but /metrics is marked as needing a token");
  const url = (path: string): string => path.replace("{addr}", "198.51.100.7");
  const tokens = { none: undefined, "a wrong token": "not-the-token-at-all-0000", "a token of another scheme": `Basic ${READ_TOKEN}`, "the read token": READ_TOKEN, "the ban token": TOKEN };
  const expected = { none: 401, "a wrong token": 403, "a token of another scheme": 401, "the read token": 200, "the ban token": 200 } as const;
  for (const { path } of reads.filter((r) => r.op.security)) {
    for (const [name, token] of Object.entries(tokens)) {
      const headers: Record<string, string> = token === undefined ? {} : { authorization: token.startsWith("Basic ") ? token : `Bearer ${token}` };
      const status = expected[name as keyof typeof expected];
      if (path === "/api/events/stream") {
        const stream = await http.events(path, headers);
        stream.close();
        assert.equal(stream.res.statusCode, status, `GET ${path} with ${name}`);
        continue;
      }
      const r = await http.request(url(path), { headers });
      assert.equal(r.status, status, `GET ${path} with ${name}: ${r.text.slice(0, 200)}`);
      if (status === 401) assert.equal(r.headers["www-authenticate"], 'Bearer realm="iblock"');
      if (status !== 200) assert.doesNotMatch(r.text, /198\.51\.100\.7/, `GET ${path} with ${name} shows no ban`);
    }
  }
  // HEAD answers as GET does; a path the server does not know needs the token too (closed unless opened).
  assert.equal((await http.request("/api/bans", { method: "HEAD" })).status, 401);
  assert.equal((await http.request("/api/nothing")).status, 401);
  assert.equal((await http.request("/api/nothing", { headers: { authorization: `Bearer ${READ_TOKEN}` } })).status, 404);

  // Open: Prometheus, and the dashboard's page and files; the page holds no ban.
  assert.equal((await http.request("/metrics")).status, 200);
  for (const file of ["dashboard.js", "dashboard.css", "uPlot.iife.min.js", "uPlot.min.css"]) assert.equal((await http.request(`/assets/${file}`)).status, 200, file);
  const page = await http.request("/");
  assert.equal(page.status, 200);
  assert.match(page.text, /<form id="unlock"/);
  assert.doesNotMatch(page.text, /198\.51\.100\.7/, "the page shows no ban without the token");

  // The read token reads, it does not ban.
  const readBan = await http.request("/api/bans", { method: "POST", headers: { ...JSON_TYPE, authorization: `Bearer ${READ_TOKEN}` }, body: JSON.stringify({ address: "198.51.100.8" }) });
  assert.equal(readBan.status, 403, readBan.text);
  const readUnban = await http.request("/api/bans/198.51.100.7", { method: "DELETE", headers: { authorization: `Bearer ${READ_TOKEN}` } });
  assert.equal(readUnban.status, 403, readUnban.text);
  assert.deepEqual((await inst.list()).map((b) => b.prefix), ["198.51.100.7/32"]);

  // The stream, with the read token, gets the bans.
  const stream = await http.events("/api/events/stream", { authorization: `Bearer ${READ_TOKEN}` });
  t.after(() => stream.close());
  assert.equal((await http.request("/api/bans", { method: "POST", headers: AUTH, body: JSON.stringify({ address: "198.51.100.9" }) })).status, 200);
  await stream.waitFor((e) => e.event === "ban" && e.data.includes("198.51.100.9"), 2000);

  // A read token file others may read is refused, named as such.
  await d.stop();
  await inst.writeConfig(httpConfig({ read_token_file: await tokenFile(inst.dir, 0o640, READ_TOKEN, "read-token") }));
  const r = await inst.cli("run", [], 15_000);
  assert.equal(r.code, EX.CONFIG, r.stderr);
  assert.match(r.stderr, /\[http\] read_token_file: .*read-token has mode 0640: expected 0600 or 0400 \(its group or others may read it/);

  // A read token that is the ban token would let every reader ban: refused at start.
  await inst.writeConfig(httpConfig({ token_file: await tokenFile(inst.dir), read_token_file: await tokenFile(inst.dir, 0o600, TOKEN, "read-token") }));
  const same = await inst.cli("run", [], 15_000);
  assert.equal(same.code, EX.CONFIG, same.stderr);
  assert.match(same.stderr, /\[http\] read_token_file \(.*read-token\) holds the same token as token_file \(.*token\): give it its own/);
});

void test("HTTP: with read_token_file, guessing tokens on an unknown path spends the reads' budget: the 301st guess is 429", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host);
  await inst.writeConfig(httpConfig({ read_token_file: await tokenFile(inst.dir, 0o600, READ_TOKEN, "read-token") }));
  const d = await inst.start();
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const statuses: number[] = [];
  for (let i = 0; i <= READS_PER_MINUTE; i++) {
    statuses.push((await http.request("/nope", { headers: { authorization: `Bearer guess-${String(i).padStart(20, "0")}` } })).status);
  }
  assert.deepEqual(statuses.slice(0, READS_PER_MINUTE).filter((s) => s !== 403), [], "each guess is told it is wrong");
  assert.equal(statuses[READS_PER_MINUTE], 429, "one guess more is refused before its token is compared");
  assert.equal((await http.request("/nope", { headers: { authorization: `Bearer ${READ_TOKEN}` } })).status, 429, "the budget is spent, the right token too");
  assert.ok(d.running, d.tail());
});

void test("HTTP: reads and the blocklist have a budget a minute per client: one more is 429 with Retry-After", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t, { service: false });
  const inst = await createInstance(t, topo.host, httpConfig({}));
  const d = await inst.start();
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  // A minute's budget sent at once: the window (a minute from the first) cannot end midway.
  const statuses = async (paths: readonly string[], n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await http.request(paths[i % paths.length] ?? "/")).status);
    return out;
  };
  const tooMany = async (path: string): Promise<void> => {
    const r = await http.request(path);
    assert.equal(r.status, 429, `${path}: ${r.text}`);
    assert.match(String(r.headers["retry-after"]), /^\d+$/, "Retry-After says when");
  };

  // The API's reads share one budget: listings, history, one address, events, the stream's opening.
  const reads = await statuses(["/api/bans", "/api/events", "/api/history", "/api/bans/198.51.100.7", "/api/stats"], READS_PER_MINUTE + 1);
  assert.deepEqual(reads.slice(0, READS_PER_MINUTE).filter((s) => s !== 200), [], "the budget's requests are answered");
  assert.equal(reads[READS_PER_MINUTE], 429, "one more is refused");
  for (const path of ["/api/bans", "/api/events", "/api/events/stream", "/api/openapi.json"]) await tooMany(path);

  // The blocklist has its own (txt and json together); the rest stays open.
  const lists = await statuses(["/blocklist.txt", "/blocklist.json"], BLOCKLISTS_PER_MINUTE + 1);
  assert.deepEqual(lists, [...Array<number>(BLOCKLISTS_PER_MINUTE).fill(200), 429]);
  await tooMany("/blocklist.json");
  // The dashboard's page counts the bans and an unknown path asks for a token: both spend the reads' budget.
  for (const path of ["/", "/nope"]) await tooMany(path);
  for (const path of ["/metrics", "/assets/dashboard.js"]) assert.equal((await http.request(path)).status, 200, path);
  assert.ok(d.running, d.tail());
});
