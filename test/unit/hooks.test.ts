// Hooks: events gathered into batches (a storm is a few calls, not one
// each), one call at a time, a failed batch tried ATTEMPTS times then
// dropped and counted, a bounded queue; the webhook's exact request and
// signature; the program's argv and stdin.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { BanChange } from "../../src/bans/changes.js";
import { hookEvent, type HookEvent } from "../../src/hooks/event.js";
import { ATTEMPTS, BATCH_MAX, HookQueue, QUEUE_MAX } from "../../src/hooks/hook-queue.js";
import { programHook } from "../../src/hooks/program.js";
import { webhook } from "../../src/hooks/webhook.js";
import { Logger } from "../../src/log.js";
import { parsePrefix } from "../../src/net/address.js";

const AT = Date.parse("2026-12-01T10:00:00Z");
const change = (address: string): BanChange => ({ kind: "ban", prefix: parsePrefix(address), source: "kernel", reason: null, port: 23, expiresAt: AT + 3_600_000, at: AT });
const event = (i: number): HookEvent => hookEvent(change(`198.18.${i >> 8}.${i & 255}`)) as HookEvent;
const waitFor = async (ok: () => boolean, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

test("a storm of 3,000 events is a handful of calls, in order, one at a time", async () => {
  const calls: number[] = [];
  let inFlight = 0;
  let most = 0;
  const got: string[] = [];
  const q = new HookQueue("on_ban", async (events) => {
    inFlight++;
    most = Math.max(most, inFlight);
    calls.push(events.length);
    got.push(...events.map((e) => e.address));
    await new Promise((r) => setTimeout(r, 50));
    inFlight--;
  }, new Logger(() => undefined));
  for (let i = 0; i < 3000; i++) q.push(event(i));
  await waitFor(() => got.length === 3000);
  assert.equal(most, 1);
  assert.ok(calls.length <= Math.ceil(3000 / BATCH_MAX) + 1, `${calls.length} calls`);
  assert.deepEqual(got, Array.from({ length: 3000 }, (_, i) => event(i).address));
  await q.stop(0);
});

test("a failing hook: each batch tried ATTEMPTS times, then dropped and counted; past QUEUE_MAX new events are dropped", async () => {
  let calls = 0;
  const lines: string[] = [];
  const q = new HookQueue("on_ban", () => {
    calls++;
    return Promise.reject(new Error("exit code 1"));
  }, new Logger((l) => lines.push(l)));
  for (let i = 0; i < 10; i++) q.push(event(i));
  await waitFor(() => q.counts.dropped === 10);
  assert.equal(calls, ATTEMPTS);
  assert.equal(q.counts.failures, ATTEMPTS);
  await q.stop(0);
  const full = new HookQueue("on_ban", () => new Promise(() => undefined), new Logger(() => undefined));
  for (let i = 0; i < QUEUE_MAX + 5; i++) full.push(event(i % 60000));
  assert.equal(full.counts.dropped, 5);
  assert.equal(full.queued, QUEUE_MAX);
  await full.stop(0);
  assert.ok(lines.some((l) => /hooks: on_ban: failed, trying again in 1 s: exit code 1/.test(l)), lines.join("\n"));
});

test("webhook: POST of a JSON array, X-Iblock-Timestamp, X-Iblock-Signature = sha256 HMAC of TIMESTAMP.BODY; non-2xx fails", async (t) => {
  const seen: { method?: string; headers: Record<string, unknown>; body: string }[] = [];
  let status = 204;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method, headers: req.headers, body });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const secret = Buffer.from("0123456789abcdef0123456789abcdef");
  const send = webhook(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret, () => AT);
  await send([event(1), event(2)]);
  const r = seen[0];
  assert.equal(r?.method, "POST");
  assert.equal(r?.headers["content-type"], "application/json");
  assert.equal(r?.headers["x-iblock-timestamp"], String(AT / 1000));
  const expected = createHmac("sha256", secret).update(`${AT / 1000}.${r?.body}`).digest("hex");
  assert.equal(r?.headers["x-iblock-signature"], `sha256=${expected}`);
  assert.deepEqual(JSON.parse(r?.body ?? ""), [
    { event: "ban", address: "198.18.0.1", prefix: "198.18.0.1/32", source: "kernel", port: 23, reason: null, expires_at: "2026-12-01T11:00:00.000Z", at: "2026-12-01T10:00:00.000Z" },
    { event: "ban", address: "198.18.0.2", prefix: "198.18.0.2/32", source: "kernel", port: 23, reason: null, expires_at: "2026-12-01T11:00:00.000Z", at: "2026-12-01T10:00:00.000Z" },
  ]);
  status = 500;
  await assert.rejects(send([event(3)]), /answered HTTP 500/);
});

test("program: the configured argv, then one argument per address; one JSON event a line on stdin; no shell", async () => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-hook-"));
  const script = join(dir, "record.sh");
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/argv"\ncat > "${dir}/stdin"\n`);
  chmodSync(script, 0o755);
  await programHook([script, "--tag", "a b; $(touch x)"])([event(1), event(2)]);
  assert.deepEqual(readFileSync(join(dir, "argv"), "utf8").split("\n"), ["--tag", "a b; $(touch x)", "198.18.0.1", "198.18.0.2", ""]);
  const lines = readFileSync(join(dir, "stdin"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as HookEvent);
  assert.deepEqual(lines.map((e) => e.address), ["198.18.0.1", "198.18.0.2"]);
  await assert.rejects(programHook(["/bin/false"])([event(1)]), /exit code 1/);
});
