import { isIP } from "node:net";

/**
 * An https URL, or http to loopback (a local relay, a test's server): a
 * key or password goes with every request and must not cross a network in clear.
 */
export function isSafeOutboundUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.username !== "" || url.password !== "") return false;
  if (url.protocol === "https:") return url.hostname !== "";
  return url.protocol === "http:" && isLoopbackHost(url.hostname);
}

/** A URL's hostname that is this host: 127.0.0.0/8, [::1] or localhost (not "127.evil.example"). */
export function isLoopbackHost(hostname: string): boolean {
  return (isIP(hostname) === 4 && hostname.startsWith("127.")) || hostname === "[::1]" || hostname === "localhost";
}

export const OUTBOUND_URL_EXPECTED = "expected an https:// URL (http:// only to loopback)";
