import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readRedisPassword } from "../../src/cluster/config.js";
import { redisPassword } from "../../src/cluster/redis-password.js";
import { parseRedisTarget, passwordsIn, withPassword } from "../../src/cluster/redis-target.js";
import { validateConfig } from "../../src/config.js";
import { CLUSTER_SECRET, credentialsOf, readSecretFile, SECRET_FILE_MAX } from "../../src/secret-file.js";

const dir = mkdtempSync(join(tmpdir(), "iblock-secret-file-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

test("a secret file is read from $CREDENTIALS_DIRECTORY when systemd put it there, else from the configured path", () => {
  const configured = file("configured", "from-the-path", 0o600);
  const creds = join(dir, "creds");
  mkdirSync(creds);
  assert.equal(readSecretFile(CLUSTER_SECRET, configured, {}).toString(), "from-the-path");
  assert.equal(readSecretFile(CLUSTER_SECRET, configured, { CREDENTIALS_DIRECTORY: creds }).toString(), "from-the-path", "no such credential: the path");
  // systemd's copy: mode 0400, owned by the service's user.
  file(join("creds", "iblock-cluster-secret"), "from-systemd", 0o400);
  assert.equal(readSecretFile(CLUSTER_SECRET, configured, { CREDENTIALS_DIRECTORY: creds }).toString(), "from-systemd");
  const copy = join(creds, "iblock-cluster-secret");
  chmodSync(copy, 0o404);
  assert.throws(() => readSecretFile(CLUSTER_SECRET, configured, { CREDENTIALS_DIRECTORY: creds }), /\[cluster\] secret_file: \S+iblock-cluster-secret has mode 0404: expected 0600 or 0400/);
  // systemd's ACL grant shows as group bits (0440) on its root-group copy; group bits of another group are a real group.
  chmodSync(copy, 0o440);
  const read = () => readSecretFile(CLUSTER_SECRET, configured, { CREDENTIALS_DIRECTORY: creds }).toString();
  if (statSync(copy).gid === 0) assert.equal(read(), "from-systemd");
  else assert.throws(read, /has mode 0440/);
  // The configured file is held to 0600 or 0400, whatever its group.
  chmodSync(configured, 0o440);
  assert.throws(() => readSecretFile(CLUSTER_SECRET, configured, {}), /has mode 0440: expected 0600 or 0400/);
});

test("a secret file that is a FIFO, a device, a link or too large is refused before a byte is read", () => {
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", ["-m", "600", fifo]);
  // Before: open() waited for a writer, forever.
  assert.throws(() => readSecretFile(CLUSTER_SECRET, fifo, {}), /\[cluster\] secret_file: \S+fifo is not a regular file/);
  // Before: read until memory ran out.
  assert.throws(() => readSecretFile(CLUSTER_SECRET, "/dev/zero", {}), /\/dev\/zero is not a regular file/);
  const target = file("target", "key", 0o600);
  const link = join(dir, "link");
  symlinkSync(target, link);
  assert.throws(() => readSecretFile(CLUSTER_SECRET, link, {}), /\[cluster\] secret_file: \S+link is a symbolic link/);
  const creds = join(dir, "creds-link");
  mkdirSync(creds);
  symlinkSync(target, join(creds, "iblock-cluster-secret"));
  assert.throws(() => readSecretFile(CLUSTER_SECRET, target, { CREDENTIALS_DIRECTORY: creds }), /creds-link\/iblock-cluster-secret is a symbolic link/);
  assert.equal(readSecretFile(CLUSTER_SECRET, file("max", "k".repeat(SECRET_FILE_MAX), 0o600), {}).length, SECRET_FILE_MAX);
  assert.throws(() => readSecretFile(CLUSTER_SECRET, file("large", "k".repeat(SECRET_FILE_MAX + 1), 0o600), {}), /large has 65537 bytes, more than a secret file's 65536/);
});

test("a secret file owned by another user than root or iblock's is refused", (t) => {
  // Giving a file away needs root; the suite runs as root where it matters (CI). Reported as skipped, not passed, otherwise.
  if (process.geteuid?.() !== 0) return t.skip("needs root to chown a file to nobody");
  const theirs = file("theirs", "key", 0o600);
  chownSync(theirs, 65534, 65534);
  assert.throws(() => readSecretFile(CLUSTER_SECRET, theirs, {}), /\[cluster\] secret_file: \S+theirs is owned by uid 65534, not by root or iblock's user \(uid 0\)/);
  const creds = join(dir, "creds-theirs");
  mkdirSync(creds);
  chownSync(file(join("creds-theirs", "iblock-cluster-secret"), "key", 0o400), 65534, 65534);
  assert.throws(() => readSecretFile(CLUSTER_SECRET, theirs, { CREDENTIALS_DIRECTORY: creds }), /creds-theirs\/iblock-cluster-secret is owned by uid 65534/);
});

test("password_file: its content without the final line break; empty or readable by others refused", () => {
  assert.equal(readRedisPassword(file("pw", "p@ss word\n", 0o600), {}), "p@ss word");
  assert.throws(() => readRedisPassword(file("empty", "\n", 0o600), {}), /password_file: \S+ is empty/);
  assert.throws(() => readRedisPassword(file("open", "pw", 0o644), {}), /\[cluster\] password_file: \S+ has mode 0644: expected 0600 or 0400/);
});

test("the Redis password from password_file goes where ioredis reads it, for every kind of target", () => {
  const url = withPassword(parseRedisTarget("redis://alice@192.0.2.5:6379/2"), "p@ss/word");
  assert.deepEqual(url, { kind: "url", url: "redis://alice:p%40ss%2Fword@192.0.2.5:6379/2" });
  assert.deepEqual(passwordsIn(url), { redis: true, sentinel: false });
  assert.deepEqual(passwordsIn(parseRedisTarget("redis://alice@192.0.2.5:6379/2")), { redis: false, sentinel: false });
  const sentinel = withPassword(parseRedisTarget("redis-sentinel://192.0.2.5/m?sentinel_password=s"), "pw");
  assert.equal(sentinel.kind === "sentinel" && sentinel.options.password, "pw");
  assert.deepEqual(passwordsIn(sentinel), { redis: true, sentinel: true });
  const cluster = withPassword(parseRedisTarget("redis-cluster://192.0.2.5:7000"), "pw");
  assert.equal(cluster.kind === "cluster" && cluster.options.password, "pw");
});

test("a password in the URL needs a config file only its owner may read; not both in the URL and in password_file", () => {
  const cluster = (redis: string, extra: Record<string, unknown> = {}) =>
    validateConfig({ cluster: { redis, name: "web", secret_file: "/k", ...extra } }, "t").cluster!;
  const config = file("iblock.toml", "", 0o640);
  assert.throws(() => redisPassword(cluster("redis://:pw@192.0.2.5:6379"), config, {}), /config \S+ holds a Redis password and has mode 0640: its group or others may read it; expected 0600 or 0400 \(chmod 600 \S+\), or move the password to \[cluster\] password_file/);
  assert.throws(() => redisPassword(cluster("redis-sentinel://192.0.2.5/m?sentinel_password=s"), config, {}), /holds a Redis password and has mode 0640/);
  assert.equal(redisPassword(cluster("redis://192.0.2.5:6379"), config, {}), undefined, "no password, any mode");
  chmodSync(config, 0o600);
  assert.equal(redisPassword(cluster("redis://:pw@192.0.2.5:6379"), config, {}), undefined, "the URL's password stays in the URL");
  const pw = file("password", "secret-pw\n", 0o600);
  assert.equal(redisPassword(cluster("redis://192.0.2.5:6379", { password_file: pw }), config, {}), "secret-pw");
  assert.throws(() => redisPassword(cluster("redis://:pw@192.0.2.5:6379", { password_file: pw }), config, {}), /both in "redis" and in password_file/);
});

test("credentialsOf: the secret files the config names, with absolute paths", () => {
  const c = validateConfig({ cluster: { redis: "redis://192.0.2.5:6379", name: "web", secret_file: "/etc/iblock/fleet.key", password_file: "/etc/iblock/redis.pw" }, http: { token_file: "/etc/iblock/token" } }, "t");
  assert.deepEqual(credentialsOf(c), [
    { key: "[cluster] secret_file", credential: "iblock-cluster-secret", path: "/etc/iblock/fleet.key" },
    { key: "[cluster] password_file", credential: "iblock-redis-password", path: "/etc/iblock/redis.pw" },
    { key: "[http] token_file", credential: "iblock-http-token", path: "/etc/iblock/token" },
  ]);
  assert.deepEqual(credentialsOf(validateConfig({}, "t")), []);
  const tls = validateConfig({ cluster: { redis: "rediss://192.0.2.5:6380", name: "web", secret_file: "/k", tls_ca_file: "/ca.pem", tls_cert_file: "/c.pem", tls_key_file: "/etc/iblock/redis-client.key" } }, "t");
  // The key is a secret (LoadCredential=); the CA and the certificate are public and read in place.
  assert.deepEqual(credentialsOf(tls)[1], { key: "[cluster] tls_key_file", credential: "iblock-redis-tls-key", path: "/etc/iblock/redis-client.key" });
  assert.equal(credentialsOf(tls).length, 2);
});
