import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { configError } from "../errors.js";

// Shorter than this is guessable at the rate limit's pace over months.
const MIN_TOKEN = 16;

/**
 * A bearer token from `token_file` or `read_token_file` (`key`), read once at
 * start. Refused when its group or others may read it (as ssh refuses a
 * private key), or when it is too short to be a secret.
 */
export function readToken(file: string, key = "token_file"): Buffer {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw configError(`[http] ${key}: cannot read ${file}: ${(e as Error).message}`);
  }
  if (mode & 0o077) {
    throw configError(`[http] ${key}: ${file} has mode ${(mode & 0o777).toString(8).padStart(4, "0")}: its group or others may read it; expected 0600 or 0400 (chmod 600 ${file})`);
  }
  if (text.length < MIN_TOKEN || /\s/.test(text)) {
    throw configError(`[http] ${key}: ${file} must hold one token of at least ${MIN_TOKEN} characters without spaces (e.g. the output of: openssl rand -hex 32)`);
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
