import { formatPrefix, widen, type Family, type Prefix } from "../net/address.js";

/** The nftables table iblock owns. Nothing outside it is ever touched. */
export const NFT_TABLE = "iblock";

export interface NftOptions {
  /** Put before every command (doas, or `ip netns exec NS` in tests). */
  commandPrefix: readonly string[];
  /** Base name of the ban sets (config `table`). */
  setName: string;
  trapPorts: readonly number[];
  allow: readonly Prefix[];
  /**
   * This host's addresses, gateways and resolvers, read when the firewall is
   * made: like an allowed address, a source in their network gets no wide ban.
   */
  hostNets: readonly Prefix[];
  kernelRoute: boolean;
  /** False when threshold > 1: the kernel only reports hits and the daemon decides. */
  kernelDecides: boolean;
  /** Timeout of a kernel-route ban (the first ban's ban_time); undefined: permanent. */
  kernelBanSec?: number;
  /** Also ban on a bare SYN to a trap port, for this long (catch_syn_scans); undefined: off. */
  synBanSec?: number;
  /**
   * Redirect trap ports to this port, or undefined. Only for the listener
   * route (listen = "redirect" without the kernel route): the kernel route
   * answers trap ports itself.
   */
  redirectPort: number | undefined;
  /** iblock's own listeners hold the trap ports (listen = "direct"): a socket there is not a service. */
  trapPortsHeld: boolean;
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** Size of each keyed ban set and each report set (config max_bans). */
  maxBans: number;
}

export interface SetNames {
  /** Keyed by the source masked to ipv4_prefix/ipv6_prefix: the kernel route adds to these. */
  v4: string;
  v6: string;
  /** Interval sets for bans of any other length (e.g. `iblock ban 198.51.100.0/24`). */
  net4: string;
  net6: string;
  /** `source . port` of the kernel route's bans, drained by the daemon for its bookkeeping. */
  seen4: string;
  seen6: string;
  /** The same for bans made on a bare SYN (catch_syn_scans). */
  syn4: string;
  syn6: string;
  /** How many cookie checks each source had lately (the kernel route's brute-force limit). */
  checks4: string;
  checks6: string;
}

export function setNames(base: string): SetNames {
  return {
    v4: `${base}_v4`,
    v6: `${base}_v6`,
    net4: `${base}_net_v4`,
    net6: `${base}_net_v6`,
    seen4: `${base}_seen_v4`,
    seen6: `${base}_seen_v6`,
    syn4: `${base}_syn_v4`,
    syn6: `${base}_syn_v6`,
    checks4: `${base}_cookie_checks_v4`,
    checks6: `${base}_cookie_checks_v6`,
  };
}

/**
 * How long a kernel hit stays in the seen sets. The daemon deletes what it has
 * read, so this matters only while it is down: a restart within it still
 * learns the port of each ban the kernel made meanwhile.
 */
export const SEEN_TIMEOUT_SEC = 600;

/**
 * Report sets are drained as one JSON line (every 100 ms while hits come, see
 * kernel-drain.ts): small enough to list well inside the session's timeout
 * even when a restart finds them full. Not
 * smaller with a small max_bans: a hit the full ban set could not take is
 * known only by its report (no listener sees it where iblock holds no trap
 * port), so the report set must outlast the ban set in a storm.
 */
export const REPORT_SET_SIZE = 65_536;
/**
 * One element in each ban set that only iblock adds and no packet can match
 * (a broadcast and a multicast source): when it is missing, the set was
 * flushed, and the cheap drift check knows to restore without listing.
 */
export const CANARY = { v4: "255.255.255.255", v6: "ffff:ffff:ffff:ffff::" } as const;


function mask(family: Family, length: number): string {
  const bits = family === 4 ? 32 : 128;
  if (length === bits) return "";
  if (family === 4) {
    const n = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
    return ` & ${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".")}`;
  }
  const groups: string[] = [];
  for (let g = 0; g < 8; g++) {
    const take = Math.max(0, Math.min(16, length - g * 16));
    groups.push(((0xffff << (16 - take)) & 0xffff).toString(16));
  }
  return ` & ${groups.join(":")}`;
}

const timeout = (sec: number | undefined): string => (sec === undefined ? "" : ` timeout ${sec}s`);

/** A socket on the port (request and time-wait ones included) is a service's: the packet is left to it. */
const leftToSockets = (add: (r: string) => string): string[] => [add("socket transparent 0 return"), add("socket transparent 1 return")];

/**
 * What every trap chain lets through first: all that is not TCP (a negated TCP
 * match does not match another protocol, so a DAD probe from :: would reach
 * the ban), other ports, this host's own and allowed sources, and, where
 * iblock's listeners do not hold the trap ports, a port a socket listens on
 * (a service that started after iblock keeps its clients).
 */
function sparedPackets(add: (r: string) => string, o: Pick<NftOptions, "trapPortsHeld">, sockets = !o.trapPortsHeld): string[] {
  return [
    add("meta l4proto != tcp return"),
    add("tcp dport != @traps return"),
    add("fib saddr type local return"),
    add("ip saddr @allow_v4 return"),
    add("ip6 saddr @allow_v6 return"),
    ...(sockets ? leftToSockets(add) : []),
  ];
}

/**
 * catch_syn_scans: a bare SYN to a trap port is enough (forgeable by design:
 * shorter bans, sets of their own, never shared). Runs in prerouting, before
 * anything answers the SYN.
 */
function synScanRules(o: NftOptions, n: SetNames, t: string, m4: string, m6: string): string[] {
  if (o.synBanSec === undefined) return [];
  const isSyn = "tcp flags & (fin | syn | rst | ack) == syn";
  const perFamily = (ip: "ip" | "ip6", m: string, banSet: string, syn: string, narrowSet: string): string[] => {
    const saddr = `${ip} saddr`;
    const rule = (r: string): string => `add rule ${t} trap meta nfproto ${ip === "ip" ? "ipv4" : "ipv6"} ${r}`;
    const report = `add @${syn} { ${saddr} . tcp dport }`;
    return [
      rule(`${isSyn} ${saddr}${m} @${narrowSet} ${report} return`),
      rule(`${isSyn} add @${banSet} { ${saddr}${m}${timeout(o.synBanSec)} } ${report}`),
    ];
  };
  return [
    ...sparedPackets((r) => `add rule ${t} trap ${r}`, o),
    ...perFamily("ip", m4, n.v4, n.syn4, "narrow_v4"),
    ...perFamily("ip6", m6, n.v6, n.syn6, "narrow_v6"),
  ];
}

// What the kernel answers a trap handshake with: SYN cookies (synproxy). The
// cookie in our SYN-ACK went to the source address, so only its owner can
// send the ACK that carries it back; synproxy checks that ACK exactly and
// drops any other. Conntrack's "established" is no such proof: it takes an
// ACK within about 64 KB of the expected one, or after our own reset.
const SYNPROXY = "synproxy mss 1460 wscale 7 timestamp sack-perm";

/** The ACK that may return a cookie: conntrack has no entry for it (synproxy took the SYN). */
const COOKIE_ACK = "tcp flags & (fin | syn | rst | ack) == ack ct state new,invalid,untracked";
/** Cookie checks allowed per source (its ipv4_prefix/ipv6_prefix network): a scanner needs one. */
const COOKIE_CHECKS = "limit rate over 10/minute burst 20 packets";
/** Sources the cookie-check meter holds at once (a storm's sources within its timeout). */
export const COOKIE_METER_SIZE = 262_144;
const COOKIE_METER_SEC = 180;

function limitCookieChecks(answer: (r: string) => string, m4: string, m6: string, n: SetNames): string[] {
  return (
    [
      ["ip", "ipv4", m4, n.checks4],
      ["ip6", "ipv6", m6, n.checks6],
    ] as const
  ).flatMap(([ip, proto, m, meter]) => [
    answer(`${COOKIE_ACK} meta nfproto ${proto} update @${meter} { ${ip} saddr${m} ${COOKIE_CHECKS} } drop`),
    answer(`${COOKIE_ACK} meta nfproto ${proto} ${ip} saddr${m} != @${meter} drop`),
  ]);
}

/**
 * The kernel route, in two chains. trap_answer (input, before the usual
 * filter chains) lets synproxy answer trap handshakes (what sparedPackets
 * spares aside). trap_proven (output) sees the SYN that synproxy sends on to this host's
 * stack once a cookie checked out, the one packet that proves a source, and
 * bans and reports it there.
 */
function kernelRouteRules(o: NftOptions, n: SetNames, t: string, m4: string, m6: string): string[] {
  const answer = (r: string): string => `add rule ${t} trap_answer ${r}`;
  const proven = (r: string): string => `add rule ${t} trap_proven ${r}`;
  const perFamily = (ip: "ip" | "ip6", m: string, banSet: string, seen: string, narrowSet: string): string[] => {
    const saddr = `${ip} saddr`;
    const rule = (r: string): string => proven(`meta nfproto ${ip === "ip" ? "ipv4" : "ipv6"} ${r}`);
    const report = `add @${seen} { ${saddr} . tcp dport }`;
    return [
      // An allowed address inside this network: only reported (the daemon bans the address alone).
      rule(`${saddr}${m} @${narrowSet} ${report} return`),
      // Two rules: a full ban set must not stop the report, nor a full report set the ban.
      ...(o.kernelDecides ? [rule(`add @${banSet} { ${saddr}${m}${timeout(o.kernelBanSec)} }`)] : []),
      rule(report),
    ];
  };
  return [
    ...sparedPackets(answer, o),
    // The SYN synproxy sends on to this host's stack comes back in through
    // loopback: answered again, it would loop (seen: 11 SYNs for one IPv6 connection).
    answer('iif "lo" return'),
    answer(`tcp flags & (fin | syn | rst | ack) == syn ${SYNPROXY}`),
    // The ACK of a cookie: conntrack has no entry for it (synproxy took the SYN).
    // A blind sender could guess a cookie by brute force (about 1 in 5 * 10^8
    // ACKs): so few guesses a minute are checked for each source that this
    // would take a century. A source the meter cannot hold (set full) is not
    // checked at all: a flood can stop the trap, never ban a third party.
    ...limitCookieChecks(answer, m4, m6, n),
    answer(`${COOKIE_ACK} ${SYNPROXY}`),
    // Only synproxy sends a SYN from a foreign source to a trap port of this
    // host with no socket behind it: a local program's SYN (a freebind or raw
    // socket, a transparent proxy) has one, whatever source it claims.
    // No socket check: synproxy's SYN is on its way to whatever listens (iblock's own listener with listen = "direct").
    ...sparedPackets(proven, o, false),
    proven("tcp flags & (fin | syn | rst | ack) != syn return"),
    proven("meta skuid >= 0 return"),
    proven("fib daddr type != local return"),
    ...perFamily("ip", m4, n.v4, n.seen4, "narrow_v4"),
    ...perFamily("ip6", m6, n.v6, n.seen6, "narrow_v6"),
  ];
}

/**
 * A chain made anew in the same transaction (add-flush-delete removes whatever
 * was there, even a base chain of another priority, which nft cannot change in
 * place), then made again only when `wanted`.
 */
function optionalChain(t: string, name: string, spec: string, wanted: boolean): string[] {
  return [
    `add chain ${t} ${name}`,
    `flush chain ${t} ${name}`,
    `delete chain ${t} ${name}`,
    ...(wanted ? [`add chain ${t} ${name} { ${spec}; policy accept; }`] : []),
  ];
}

/** Which set holds a ban: the keyed set when its length is the configured one, else the interval set. */
export function setFor(p: Prefix, names: SetNames, o: Pick<NftOptions, "ipv4Prefix" | "ipv6Prefix">): string {
  if (p.family === 4) return p.length === o.ipv4Prefix ? names.v4 : names.net4;
  return p.length === o.ipv6Prefix ? names.v6 : names.net6;
}

/** An element as nft reads it: the keyed sets take the bare network address. */
export function elementFor(p: Prefix, set: string, names: SetNames): string {
  return set === names.v4 || set === names.v6 ? p.address : formatPrefix(p);
}

/**
 * The whole ruleset as one nft script. It is safe to apply over an existing
 * table: ban sets are only created when missing (so their elements survive a
 * restart), while chains, the trap port set and the allow sets are rewritten.
 */
export function nftScript(o: NftOptions, { emptyBanSets = false } = {}): string {
  const n = setNames(o.setName);
  const t = `inet ${NFT_TABLE}`;
  const allow4 = o.allow.filter((p) => p.family === 4).map(formatPrefix);
  const allow6 = o.allow.filter((p) => p.family === 6).map(formatPrefix);
  const m4 = mask(4, o.ipv4Prefix);
  const m6 = mask(6, o.ipv6Prefix);
  // Networks (of ipv4_prefix/ipv6_prefix) holding an allowed address, or one of
  // this host's addresses, gateways or resolvers: a source there must not get
  // the wide ban. The kernel only reports it, and the daemon bans the address
  // alone (Policy narrows it).
  const narrow = (family: 4 | 6, len: number): string[] => [
    ...new Set([...o.allow, ...o.hostNets].filter((p) => p.family === family && p.length > len).map((p) => widen(p, len).address)),
  ];
  const narrow4 = narrow(4, o.ipv4Prefix);
  const narrow6 = narrow(6, o.ipv6Prefix);
  const lines = [
    `table ${t} {}`,
    `add set ${t} ${n.v4} { type ipv4_addr; flags dynamic,timeout; size ${o.maxBans}; }`,
    `add set ${t} ${n.v6} { type ipv6_addr; flags dynamic,timeout; size ${o.maxBans}; }`,
    `add set ${t} ${n.net4} { type ipv4_addr; flags interval,timeout; }`,
    `add set ${t} ${n.net6} { type ipv6_addr; flags interval,timeout; }`,
    `add set ${t} ${n.seen4} { type ipv4_addr . inet_service; flags dynamic,timeout; timeout ${SEEN_TIMEOUT_SEC}s; size ${REPORT_SET_SIZE}; }`,
    `add set ${t} ${n.seen6} { type ipv6_addr . inet_service; flags dynamic,timeout; timeout ${SEEN_TIMEOUT_SEC}s; size ${REPORT_SET_SIZE}; }`,
    `add set ${t} ${n.syn4} { type ipv4_addr . inet_service; flags dynamic,timeout; timeout ${SEEN_TIMEOUT_SEC}s; size ${REPORT_SET_SIZE}; }`,
    `add set ${t} ${n.syn6} { type ipv6_addr . inet_service; flags dynamic,timeout; timeout ${SEEN_TIMEOUT_SEC}s; size ${REPORT_SET_SIZE}; }`,
    // Kept longer than the burst takes to refill (20 at 10 a minute: 2 min), so a pause gains a source nothing.
    `add set ${t} ${n.checks4} { type ipv4_addr; flags dynamic,timeout; timeout ${COOKIE_METER_SEC}s; size ${COOKIE_METER_SIZE}; }`,
    `add set ${t} ${n.checks6} { type ipv6_addr; flags dynamic,timeout; timeout ${COOKIE_METER_SEC}s; size ${COOKIE_METER_SIZE}; }`,
    // In the same transaction as the new rules: no packet ever meets an element of the old length.
    ...(emptyBanSets ? [n.v4, n.v6, n.net4, n.net6].map((s) => `flush set ${t} ${s}`) : []),
    `add element ${t} ${n.v4} { ${CANARY.v4} }`,
    `add element ${t} ${n.v6} { ${CANARY.v6} }`,
    `add element ${t} ${n.net4} { ${CANARY.v4} }`,
    `add element ${t} ${n.net6} { ${CANARY.v6}/64 }`,
    `add set ${t} traps { type inet_service; flags interval; }`,
    `flush set ${t} traps`,
    // None when services took every trap port since the start.
    o.trapPorts.length ? `add element ${t} traps { ${o.trapPorts.join(", ")} }` : "",
    `add set ${t} allow_v4 { type ipv4_addr; flags interval; }`,
    `flush set ${t} allow_v4`,
    allow4.length ? `add element ${t} allow_v4 { ${allow4.join(", ")} }` : "",
    `add set ${t} allow_v6 { type ipv6_addr; flags interval; }`,
    `flush set ${t} allow_v6`,
    allow6.length ? `add element ${t} allow_v6 { ${allow6.join(", ")} }` : "",
    `add set ${t} narrow_v4 { type ipv4_addr; }`,
    `flush set ${t} narrow_v4`,
    narrow4.length ? `add element ${t} narrow_v4 { ${narrow4.join(", ")} }` : "",
    `add set ${t} narrow_v6 { type ipv6_addr; }`,
    `flush set ${t} narrow_v6`,
    narrow6.length ? `add element ${t} narrow_v6 { ${narrow6.join(", ")} }` : "",
    // Raw priority: before conntrack, so a banned source costs one lookup and
    // nothing else, and forwarded traffic (published container ports) is covered too.
    `add chain ${t} drop_banned { type filter hook prerouting priority raw; policy accept; }`,
    `flush chain ${t} drop_banned`,
    // Allowed sources are never dropped, even when a wide ban covers them.
    `add rule ${t} drop_banned ip saddr @allow_v4 return`,
    `add rule ${t} drop_banned ip6 saddr @allow_v6 return`,
    `add rule ${t} drop_banned ip saddr${m4} @${n.v4} drop`,
    `add rule ${t} drop_banned ip saddr @${n.net4} drop`,
    `add rule ${t} drop_banned ip6 saddr${m6} @${n.v6} drop`,
    `add rule ${t} drop_banned ip6 saddr @${n.net6} drop`,
    // Mangle priority: before NAT (so the original trap port is seen in redirect mode too).
    `add chain ${t} trap { type filter hook prerouting priority mangle; policy accept; }`,
    `flush chain ${t} trap`,
    ...synScanRules(o, n, t, m4, m6),
    // Before the usual input filters, so the host's own rules on invalid packets do not hide the cookie's ACK.
    ...optionalChain(t, "trap_answer", "type filter hook input priority filter - 5", o.kernelRoute),
    ...optionalChain(t, "trap_proven", "type filter hook output priority filter - 5", o.kernelRoute),
    ...(o.kernelRoute ? kernelRouteRules(o, n, t, m4, m6) : []),
    // After the host's own DNAT (a port forward, a container's published port): that wins.
    ...optionalChain(t, "trap_redirect", "type nat hook prerouting priority dstnat + 10", o.redirectPort !== undefined),
    ...(o.redirectPort === undefined
      ? []
      : [
          // A port a socket listens on is a service's (one that started after iblock): not redirected.
          ...leftToSockets((r) => `add rule ${t} trap_redirect meta l4proto tcp ${r}`),
          `add rule ${t} trap_redirect tcp dport @traps redirect to :${o.redirectPort}`,
        ]),
  ];
  return lines.filter(Boolean).join("\n") + "\n";
}

/** The same ruleset as a file for `nft -f` (what `iblock setup nftables` prints). */
export function nftFile(o: NftOptions): string {
  return (
    `#!/usr/sbin/nft -f\n# iblock: generated by "iblock setup nftables"; the daemon installs this itself.\n` +
    `# allow_v4/allow_v6 hold the config's "allow" only: this host's own addresses (allow_self) change, so the\n` +
    `# daemon adds them when it starts; the trap rules skip local sources whatever this file says.\n` +
    nftScript(o)
  );
}
