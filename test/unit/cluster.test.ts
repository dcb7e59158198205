import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkNodeName, clusterConfig, readSecret } from "../../src/cluster/config.js";
import { compareIds } from "../../src/cluster/keys.js";
import { createHmac, randomBytes } from "node:crypto";
import { sign, snapshotDetail, verify, verifyDetail, type Message } from "../../src/cluster/message.js";
import { validateConfig } from "../../src/config.js";
import { tlsVerifyError } from "../../src/cluster/redis-tls.js";
import { onlineReplicas } from "../../src/cluster/replication.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "iblock-cluster-"));
const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const base: Message = { origin: "a", kind: "ban", prefix: "198.18.0.1/32", expires: "", reason: "trap", port: "23", at: "1700000000000", seq: "1700000000000000" };
const fields = (m: object): Record<string, string> => ({ ...(m as Record<string, string>) });

test("a signed message verifies; any change to any field, or another fleet, does not", () => {
  const ok = verify(secret, "web", fields(sign(secret, "web", base)));
  assert.ok(ok.ok && ok.message.prefix.address === "198.18.0.1" && ok.message.expiresAt === null && ok.message.port === 23);
  for (const k of Object.keys(base) as (keyof Message)[]) {
    const tampered = { ...sign(secret, "web", base), [k]: k === "kind" ? "unban" : `${base[k]}0` };
    const r = verify(secret, "web", fields(tampered));
    assert.ok(!r.ok && /wrong hmac/.test(r.why), `${k} changed: ${JSON.stringify(r)}`);
  }
  const other = verify(secret, "db", fields(sign(secret, "web", base)));
  assert.ok(!other.ok && /wrong hmac/.test(other.why));
});

test("oversized, missing, extra and malformed fields are refused with the reason", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...fields(sign(secret, "web", base)), reason: "x".repeat(10_000) }, /field "reason" is 10000 bytes/],
    [{ ...fields(sign(secret, "web", base)), extra: "1" }, /unexpected field "extra"/],
    [fields({ ...base }), /no hmac field/],
    [fields(sign(secret, "web", { ...base, prefix: "198.18.0.1/24" })), /host bits set/],
    [fields(sign(secret, "web", { ...base, origin: "a b" })), /not a node name/],
    [fields(sign(secret, "web", { ...base, port: "70000" })), /port "70000"/],
  ];
  for (const [raw, why] of cases) {
    const r = verify(secret, "web", raw);
    assert.ok(!r.ok && why.test(r.why), `${JSON.stringify(r)} should match ${String(why)}`);
  }
});

test("a snapshot entry verifies as it was written; a changed byte, another fleet or garbage does not", () => {
  const detail = snapshotDetail("web", sign(secret, "web", base));
  const ok = verifyDetail(secret, "web", detail);
  assert.ok(ok.ok && ok.message.prefix.address === "198.18.0.1" && ok.message.origin === "a" && ok.message.port === 23);
  // The same ban as the stream carries it: one signature for both, and the same message read from either.
  assert.equal(detail.slice(0, 64), sign(secret, "web", base).hmac);
  const distinct: Message = { origin: "b.example", kind: "unban", prefix: "2001:db8:9::/48", expires: "1800000000000", reason: "cli: by hand", port: "8080", at: "1700000000123", seq: "1700000000123000" };
  const fromSnapshot = verifyDetail(secret, "web", snapshotDetail("web", sign(secret, "web", distinct)));
  const fromStream = verify(secret, "web", fields(sign(secret, "web", distinct)));
  assert.ok(fromSnapshot.ok && fromStream.ok);
  assert.deepEqual(fromSnapshot.message, fromStream.message);
  for (let i = 64; i < detail.length; i++) {
    const changed = detail.slice(0, i) + (detail[i] === "1" ? "2" : "1") + detail.slice(i + 1);
    const r = verifyDetail(secret, "web", changed);
    assert.ok(!r.ok && /wrong hmac/.test(r.why), `byte ${i} changed: ${JSON.stringify(r)}`);
  }
  // A fleet that shares the secret signs its own name: refused by name here.
  const other = verifyDetail(secret, "db", detail);
  assert.ok(!other.ok && /from fleet "web", not "db"/.test(other.why), JSON.stringify(other));
  // Signed with the secret, yet not a message of ours.
  const signedText = (text: string): string => createHmac("sha256", secret).update(text).digest("hex") + text;
  const cases: [string, RegExp][] = [
    ["{not json", /^not an HMAC and a message/],
    ["a".repeat(10_000), /10000 characters \(at most 8192\)/],
    ["0".repeat(64) + '["web"]', /wrong hmac/],
    [signedText("{not json"), /not JSON after the hmac/],
    [signedText('["web","a","ban"]'), /not the fleet and 8 fields/],
    [signedText(JSON.stringify(["web", "a", "ban", "198.18.0.1/32", "", "x".repeat(600), "23", "1700000000000", "1700000000000000"])), /field "reason" is 600 bytes/],
    [signedText(JSON.stringify(["web", "a", "ban", "198.18.0.1/32", "", "trap", 23, "1700000000000", "1700000000000000"])), /not the fleet and 8 fields/],
    [snapshotDetail("web", sign(secret, "web", { ...base, seq: "-1" })), /seq "-1" is not a sequence number/],
    [snapshotDetail("web", sign(secret, "web", { ...base, prefix: "0.0.0.0/33" })), /bad prefix length/],
    [snapshotDetail("web", sign(secret, "web", { ...base, origin: "a b" })), /not a node name/],
  ];
  for (const [d, why] of cases) {
    const r = verifyDetail(secret, "web", d);
    assert.ok(!r.ok && why.test(r.why), `${JSON.stringify(r)} should match ${String(why)}`);
  }
});

test("the signature is HMAC-SHA256 of the JSON text, for any secret and text: hosts of other versions read ours and we theirs", () => {
  const secrets = [
    Buffer.from(randomBytes(32).toString("hex")), // 64 bytes: a block exactly
    Buffer.from(randomBytes(24).toString("base64")),
    Buffer.from("6"), // 0x36: a NUL in the padded key
    Buffer.from(randomBytes(50).toString("hex")), // 100 bytes: hashed first
    randomBytes(32),
  ];
  const reasons = ["", "x", "é€😀 ünïcödé", "y".repeat(256)];
  for (const key of secrets) {
    for (const reason of reasons) {
      const m: Message = { ...base, reason };
      const text = JSON.stringify(["web", m.origin, m.kind, m.prefix, m.expires, m.reason, m.port, m.at, m.seq]);
      const want = createHmac("sha256", key).update(text).digest("hex");
      const signed = sign(key, "web", m);
      assert.equal(signed.hmac, want, `key ${key.toString("hex")}, reason of ${reason.length}`);
      assert.ok(verify(key, "web", fields(signed)).ok);
      assert.ok(verifyDetail(key, "web", want + text).ok);
      // Hex as sign() writes it: the same HMAC upper-cased, or with a character more, is not ours.
      for (const hmac of [want.toUpperCase(), `${want}0`, want.slice(0, 63)]) {
        const r = verify(key, "web", { ...fields(signed), hmac });
        assert.ok(!r.ok && /wrong hmac/.test(r.why), JSON.stringify(r));
      }
      const other = verify(Buffer.concat([key, Buffer.from("x")]), "web", fields(signed));
      assert.ok(!other.ok && /wrong hmac/.test(other.why));
    }
  }
});

test("the secret file: refused when group or others may read it, or too short", () => {
  const f = join(dir, "key");
  writeFileSync(f, "0123456789abcdef0123\n");
  chmodSync(f, 0o644);
  assert.throws(() => readSecret(f), (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && /mode 0644: expected 0600/.test(e.message));
  chmodSync(f, 0o600);
  assert.equal(readSecret(f).toString(), "0123456789abcdef0123");
  writeFileSync(f, "short\n");
  assert.throws(() => readSecret(f), /at least 16/);
});

test("[cluster]: defaults, and peer or local in share refused with the key", () => {
  const c = validateConfig({ cluster: { redis: "redis://192.0.2.5:6379/0", name: "web", secret_file: "/k" } }, "t");
  assert.deepEqual(c.cluster?.share, ["trap", "kernel", "cli", "api"]);
  assert.equal(c.cluster.peer_min_prefix_v4, 16);
  assert.equal(c.cluster.peer_min_prefix_v6, 32);
  assert.ok(c.cluster.node.length > 0);
  assert.throws(
    () => validateConfig({ cluster: { redis: "redis://192.0.2.5", name: "web", secret_file: "/k", share: ["trap", "peer"] } }, "t"),
    /key "cluster.share": value \["trap","peer"\] is not valid: "peer", "local", "syn" and "adopted" bans are never shared/,
  );
  assert.throws(() => validateConfig({ cluster: { redis: "http://x", name: "web", secret_file: "/k" } }, "t"), /key "cluster.redis".*redis:\/\//);
  assert.throws(() => validateConfig({ cluster: { redis: "redis://x", name: "web", secret_file: "/k", port: 1 } }, "t"), /unknown key "port" in \[cluster\] \(known keys: redis, /);
});

test("[cluster] TLS files: a certificate goes with its key, and only on a TLS URL", () => {
  const base = { name: "web", secret_file: "/k" };
  const c = validateConfig({ cluster: { ...base, redis: "rediss://192.0.2.5:6380/0", tls_ca_file: "/ca.pem", tls_cert_file: "/c.pem", tls_key_file: "/c.key" } }, "t");
  assert.equal(c.cluster?.tls_ca_file, "/ca.pem");
  assert.ok(validateConfig({ cluster: { ...base, redis: "rediss-sentinel://192.0.2.5/m", tls_ca_file: "/ca.pem" } }, "t").cluster);
  assert.throws(() => validateConfig({ cluster: { ...base, redis: "rediss://192.0.2.5", tls_cert_file: "/c.pem" } }, "t"), /tls_cert_file and tls_key_file go together/);
  assert.throws(() => validateConfig({ cluster: { ...base, redis: "redis://192.0.2.5", tls_ca_file: "/ca.pem" } }, "t"), /need a TLS URL \("rediss:\/\/"/);
});

test("only a certificate's own verification failures refuse the start; a Redis down is an outage", () => {
  const err = (code: string): Error => Object.assign(new Error(code), { code });
  for (const code of ["SELF_SIGNED_CERT_IN_CHAIN", "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_HAS_EXPIRED", "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"]) {
    assert.ok(tlsVerifyError(err(code)), code);
  }
  for (const e of [err("ECONNREFUSED"), err("ETIMEDOUT"), err("ECONNRESET"), new Error("Connection is closed.")]) assert.ok(!tlsVerifyError(e), e.message);
});

test("stream ids compare by time, then sequence", () => {
  assert.equal(compareIds("1-0", "0"), 1);
  assert.equal(compareIds("10-0", "9-5"), 1);
  assert.equal(compareIds("10-2", "10-10"), -1);
  assert.equal(compareIds("5-1", "5-1"), 0);
});

test("a hostname peers would refuse as an origin is no node name by default: the daemon says so at start", () => {
  const section = { redis: "redis://192.0.2.5:6379/0", name: "web", secret_file: "/etc/iblock/cluster.key", share: ["trap"], peer_min_prefix_v4: 16, peer_min_prefix_v6: 32, clock_skew: 300_000, catchup_interval: 900_000 };
  assert.equal(clusterConfig(section, "web-03.example").node, "web-03.example");
  checkNodeName(clusterConfig(section, "web-03.example"));
  checkNodeName(clusterConfig({ ...section, node: "web-03" }, "x".repeat(80)));
  assert.throws(
    () => checkNodeName(clusterConfig(section, `${"a".repeat(60)}.example.org`)),
    (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && /hostname "a{60}\.example\.org" cannot be this node's name .*set node = "\.\.\." in \[cluster\]/.test(e.message),
  );
});

test("a peer's reason is kept with its control and bidi characters written out", () => {
  const r = verify(secret, "web", fields(sign(secret, "web", { ...base, reason: "trap\u202e\x1b[31m" })));
  assert.ok(r.ok);
  assert.equal(r.message.reason, "trap\\u202e\\x1b[31m");
});

test("ROLE's reply: a master's online replicas count, anything else is none (no WAIT is sent)", () => {
  // As ioredis gives redis-server 7's replies.
  assert.equal(onlineReplicas(["master", 3001, [["198.51.100.10", "6380", "1584"]]]), 1);
  assert.equal(onlineReplicas(["master", 3001, [["198.51.100.10", "6380", "1584"], ["198.51.100.11", "6380", "3001"]]]), 2);
  assert.equal(onlineReplicas(["master", 0, []]), 0);
  assert.equal(onlineReplicas(["slave", "198.51.100.10", 6379, "connected", 3001]), 0);
  for (const odd of [undefined, null, "master", [], ["master"], ["master", 1, "x"]]) assert.equal(onlineReplicas(odd), 0, JSON.stringify(odd));
});

test("refusedCommand: an ACL refusal or an unknown command, not a failure of the moment", async () => {
  // ioredis re-exports redis-errors' class untyped.
  const ReplyError = (await import("ioredis")).ReplyError as unknown as new (message: string) => Error;
  const { refusedCommand } = await import("../../src/cluster/replication.js");
  assert.equal(refusedCommand(new ReplyError("NOPERM User iblock has no permissions to run the 'role' command")), true);
  assert.equal(refusedCommand(new ReplyError("ERR unknown command 'WAIT', with args beginning with: ")), true);
  assert.equal(refusedCommand(new ReplyError("LOADING Redis is loading the dataset in memory")), false);
  assert.equal(refusedCommand(new Error("Connection is closed.")), false);
});
