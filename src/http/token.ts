import { createHash, timingSafeEqual } from "node:crypto";
import { configError } from "../errors.js";
import { HTTP_TOKEN, readSecretFile } from "../secret-file.js";

// Shorter than this is guessable at the rate limit's pace over months.
const MIN_TOKEN = 16;

/**
 * The bearer token from `token_file`, read once at start. Refused when its
 * group or others may read it (as ssh refuses a private key), or when it is
 * too short to be a secret.
 */
export function readToken(file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const text = readSecretFile(HTTP_TOKEN, file, env).toString("utf8").trim();
  if (text.length < MIN_TOKEN || /\s/.test(text)) {
    throw configError(`[http] token_file: ${file} must hold one token of at least ${MIN_TOKEN} characters without spaces (e.g. the output of: openssl rand -hex 32)`);
  }
  return digest(text);
}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** Compared as digests of equal length, in constant time. */
export function tokenMatches(expected: Buffer, given: string): boolean {
  return timingSafeEqual(expected, digest(given));
}
