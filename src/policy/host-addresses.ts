import { readFileSync } from "node:fs";
import { endianness, networkInterfaces } from "node:os";
import { formatPrefix, peerPrefix, type Prefix } from "../net/address.js";
import { PrefixMatcher } from "./prefix-matcher.js";

/** An address this host cannot do without, and where we learnt it. */
export interface HostAddress {
  prefix: Prefix;
  /** "address", "gateway" or "resolver", as the refusal names it. */
  role: "address" | "gateway" | "resolver";
  /** The interface or file it came from. */
  from: string;
}

/** Where the host's facts are read; tests give their own files. */
export interface HostSources {
  /** Each file's nameservers count; a missing file holds none. */
  resolvConfs: readonly string[];
  routeV4: string;
  routeV6: string;
  interfaces: () => ReturnType<typeof networkInterfaces>;
}

export const SYSTEM_SOURCES: HostSources = {
  // Under systemd-resolved /etc/resolv.conf names only its stub (127.0.0.53);
  // the upstream resolvers it asks are in the second file.
  resolvConfs: ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"],
  routeV4: "/proc/net/route",
  routeV6: "/proc/net/ipv6_route",
  interfaces: networkInterfaces,
};

/**
 * A file that is absent holds nothing. On OpenBSD there is no /proc: the
 * gateways are not known there, only the addresses and resolvers.
 */
function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** `nameserver ADDR` lines; a zone (%eth0) is dropped and anything else that is no address is skipped. */
export function resolvers(text: string): Prefix[] {
  const out: Prefix[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const p = m?.[1] ? peerPrefix(m[1]) : null;
    if (p) out.push(p);
  }
  return out;
}

/**
 * The gateways of /proc/net/route: the kernel prints each 32-bit address as a
 * number in the host's byte order ("010200C0" is 192.0.2.1 on x86).
 */
export function gatewaysV4(text: string, littleEndian = endianness() === "LE"): Prefix[] {
  const out: Prefix[] = [];
  for (const line of text.split("\n").slice(1)) {
    const hex = line.trim().split(/\s+/)[2];
    if (!hex || !/^[0-9A-Fa-f]{8}$/.test(hex) || /^0+$/.test(hex)) continue;
    const bytes = (hex.match(/../g) ?? []).map((b) => parseInt(b, 16));
    if (littleEndian) bytes.reverse();
    const p = peerPrefix(bytes.join("."));
    if (p) out.push(p);
  }
  return out;
}

/** The next hops of /proc/net/ipv6_route (the fifth column, 32 hex digits in network order). */
export function gatewaysV6(text: string): Prefix[] {
  const out: Prefix[] = [];
  for (const line of text.split("\n")) {
    const hop = line.trim().split(/\s+/)[4];
    if (!hop || !/^[0-9a-fA-F]{32}$/.test(hop) || /^0+$/.test(hop)) continue;
    const p = peerPrefix((hop.match(/.{4}/g) ?? []).join(":"));
    if (p) out.push(p);
  }
  return out;
}

/**
 * Read when asked: addresses, routes and resolvers change (DHCP, a VPN). Asked
 * at each manual ban and import, each feed refresh, each batch of the fleet's
 * stream and page of its snapshot, and for trap hits at most every 5 s: a few
 * small files each time.
 */
export function hostAddresses(sources: HostSources = SYSTEM_SOURCES): HostAddress[] {
  const out: HostAddress[] = [];
  for (const [name, list] of Object.entries(sources.interfaces())) {
    for (const a of list ?? []) {
      const p = peerPrefix(a.address);
      if (p) out.push({ prefix: p, role: "address", from: name });
    }
  }
  for (const p of gatewaysV4(readOrEmpty(sources.routeV4))) out.push({ prefix: p, role: "gateway", from: sources.routeV4 });
  for (const p of gatewaysV6(readOrEmpty(sources.routeV6))) out.push({ prefix: p, role: "gateway", from: sources.routeV6 });
  for (const file of sources.resolvConfs) {
    for (const p of resolvers(readOrEmpty(file))) out.push({ prefix: p, role: "resolver", from: file });
  }
  return out;
}

/**
 * This host's addresses, gateways and resolvers, read once and asked about
 * many prefixes: per ban, per import, per feed refresh, per batch of a peer's
 * bans (a million prefixes, each a few integer comparisons).
 */
export class HostFacts {
  private readonly matcher: PrefixMatcher;
  private readonly byPrefix: Map<Prefix, HostAddress>;

  constructor(readonly list: readonly HostAddress[]) {
    this.matcher = new PrefixMatcher(list.map((h) => h.prefix));
    this.byPrefix = new Map(list.map((h) => [h.prefix, h]));
  }

  /** "covers this host's resolver 192.0.2.53 (/etc/resolv.conf)", or undefined when `p` covers none. */
  covering(p: Prefix): string | undefined {
    const hit = this.byPrefix.get(this.matcher.match(p) as Prefix);
    return hit && `covers this host's ${hit.role} ${formatPrefix(hit.prefix)} (${hit.from})`;
  }
}
