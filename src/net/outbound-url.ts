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
  return url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "[::1]" || url.hostname === "localhost");
}

export const OUTBOUND_URL_EXPECTED = "expected an https:// URL (http:// only to loopback)";
