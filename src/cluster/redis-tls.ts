import { readFileSync } from "node:fs";
import { configError } from "../errors.js";
import { readSecretFile, REDIS_TLS_KEY } from "../secret-file.js";
import type { ClusterConfig } from "./config.js";
import type { RedisAccess } from "./redis-target.js";

/**
 * The TLS files of [cluster], read once at start: the CA and the client
 * certificate are public (read as they are), the key is a secret file
 * (0600, no link, systemd's credential when there is one).
 */
export function readRedisTls(config: ClusterConfig, env: NodeJS.ProcessEnv = process.env): RedisAccess["tls"] {
  const { tls_ca_file: caFile, tls_cert_file: certFile, tls_key_file: keyFile } = config;
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined;
  return {
    ...(caFile === undefined ? {} : { ca: readPem("tls_ca_file", caFile) }),
    ...(certFile === undefined ? {} : { cert: readPem("tls_cert_file", certFile) }),
    ...(keyFile === undefined ? {} : { key: readSecretFile(REDIS_TLS_KEY, keyFile, env).toString("utf8") }),
  };
}

function readPem(key: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw configError(`cluster: ${key} ${file}: ${(e as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) throw configError(`cluster: ${key} ${file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  return text;
}

// OpenSSL's and Node's names for "this peer's certificate is not to be trusted".
const VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_SIGNATURE_FAILURE", "CERT_NOT_YET_VALID", "CERT_HAS_EXPIRED", "CERT_REVOKED", "CERT_UNTRUSTED",
  "CERT_REJECTED", "INVALID_CA", "HOSTNAME_MISMATCH", "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Whether a connect failed because a certificate did not verify: Redis's
 * (wrong CA, wrong name, expired), or ours as Redis judged it (its TLS alert).
 * Unlike a Redis that is down, that never heals by retrying.
 */
export function tlsVerifyError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return VERIFY_CODES.has(code) || /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN)$/.test(code);
}
