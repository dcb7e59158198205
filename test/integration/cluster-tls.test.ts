// The fleet's Redis over TLS (a rediss:// URL): a CA, a server certificate
// for Redis's address and client certificates, all made by openssl here;
// redis-server with tls-port only and tls-auth-clients on, its plain port
// closed. A and B give tls_ca_file, tls_cert_file and tls_key_file, log in as
// the ACL user, and a ban on A drops the scanner on B (real packets). C trusts
// another CA: its daemon refuses to start (78) and says why.
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { linesMatching } from "../support/checks.js";
import { requireRoot } from "../support/env.js";
import { Fleet, FLEET_ADDR } from "../support/fleet.js";
import { run } from "../support/proc.js";
import { aclServerArgs, ACL_USER } from "../support/redis-acl.js";
import { stormSource } from "../support/storm.js";

const TLS_PORT = 6390;

/** A CA (key and certificate) in `dir`, named `name`. */
async function makeCa(dir: string, name: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`]);
  return { key, cert };
}

/** A certificate signed by `ca`, for `san` (e.g. IP:198.51.100.10) when given; its key 0600. */
async function makeCert(dir: string, name: string, ca: { key: string; cert: string }, san?: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, san ? `subjectAltName=${san}\n` : "extendedKeyUsage=clientAuth\n");
  await run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`]);
  await run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
  await chmod(key, 0o600);
  return { key, cert };
}

void test("TLS: bans travel over rediss:// with our CA and client certificates; another CA refuses the start (78)", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "redis-server", "redis-cli", "openssl"])) return;
  const fleet = await Fleet.create(t);
  const ca = await makeCa(fleet.dir, "fleet-ca");
  const server = await makeCert(fleet.dir, "redis", ca, `IP:${FLEET_ADDR.redis}`);
  const client = await makeCert(fleet.dir, "client", ca);
  const redis = fleet.spawn(fleet.ns.redis, [
    "redis-server", "--port", "0", "--tls-port", String(TLS_PORT), "--bind", FLEET_ADDR.redis, "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", fleet.dir,
    "--tls-cert-file", server.cert, "--tls-key-file", server.key, "--tls-ca-cert-file", ca.cert, "--tls-auth-clients", "yes", ...aclServerArgs(),
  ]);
  await redis.waitForLine(/Ready to accept connections/, 10_000);

  const tls = { redis: `rediss://${ACL_USER}@${FLEET_ADDR.redis}:${TLS_PORT}/0`, tls_ca_file: ca.cert, tls_cert_file: client.cert, tls_key_file: client.key };
  const [a, b] = [await fleet.host(t, "a", {}, tls), await fleet.host(t, "b", {}, tls)];
  const [da, db] = [await a.start(), await b.start()];
  for (const d of [da, db]) await d.waitForLine(/caught up from the snapshot/, 15_000);
  await fleet.sharedFromA(stormSource(0), b, [da, db]);
  for (const d of [da, db]) assert.deepEqual(linesMatching(d, /cluster: Redis unreachable|cluster: refused/), [], d.tail());

  // C trusts another CA: Redis's certificate does not verify, and the daemon says so and stops.
  const other = await makeCa(fleet.dir, "other-ca");
  const c = await fleet.host(t, "c", {}, { ...tls, tls_ca_file: other.cert });
  const dc = await c.start({ waitReady: false });
  const exit = await dc.proc.exited;
  assert.equal(exit.code, 78, dc.tail());
  assert.match(dc.tail(), /cluster: Redis's TLS connection refused: .*(self[- ]signed|unable to verify|certificate)/i);
  assert.ok(!dc.lines.some((l) => /\bready\b/.test(l)), "C never said ready");
});
