import { createHash, timingSafeEqual } from "node:crypto";
import { configError } from "../errors.js";
import { readSecretFile, type SecretFileKey } from "../secret-file.js";

// Shorter than this is guessable at the rate limit's pace over months.
const MIN_TOKEN = 16;

/**
 * A bearer token from `token_file` or `read_token_file` (`which`), read once at
 * start. Refused when its group or others may read it (as ssh refuses a
 * private key), or when it is too short to be a secret.
 */
export function readToken(which: SecretFileKey, file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const text = readSecretFile(which, file, env).toString("utf8").trim();
  if (text.length < MIN_TOKEN || /\s/.test(text)) {
    throw configError(`${which.key}: ${file} must hold one token of at least ${MIN_TOKEN} characters without spaces (e.g. the output of: openssl rand -hex 32)`);
  }
  return digest(text);
}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** The token of an "Authorization: Bearer TOKEN" header; undefined when there is none of that form. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? "")?.[1];
}

/** Compared as digests of equal length, in constant time. */
export function tokenMatches(expected: Buffer, given: string): boolean {
  return timingSafeEqual(expected, digest(given));
}
