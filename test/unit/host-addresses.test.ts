import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/net/address.js";
import { gatewaysV4, gatewaysV6, HostFacts, hostAddresses, resolvers } from "../../src/policy/host-addresses.js";

const ROUTE_V4 = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t007100CB\t016433C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

const ROUTE_V6 = `20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;

const shown = (ps: Prefix[]): string[] => ps.map(formatPrefix);

test("the gateways of /proc/net/route, in the host's byte order; routes without one are skipped", () => {
  assert.deepEqual(shown(gatewaysV4(ROUTE_V4, true)), ["192.0.2.1", "198.51.100.1"]);
  // A big-endian host prints the bytes in order.
  assert.deepEqual(shown(gatewaysV4("Iface\tDestination\tGateway\neth0\t00000000\tC0000201\t0003\n", false)), ["192.0.2.1"]);
  assert.deepEqual(gatewaysV4("garbage\nline with ZZZZZZZZ here\n"), []);
});

test("the next hops of /proc/net/ipv6_route; an unreachable default (no hop) is skipped", () => {
  assert.deepEqual(shown(gatewaysV6(ROUTE_V6)), ["2001:db8::1"]);
});

test("resolv.conf's nameservers: zones dropped, comments and other lines ignored, mapped IPv4 as IPv4", () => {
  const text = "# nameserver 203.0.113.99\nsearch example.org\nnameserver 192.0.2.53\n  nameserver fe80::1%eth0\nnameserver ::ffff:198.51.100.53\nnameserver not-an-address\noptions edns0\n";
  assert.deepEqual(shown(resolvers(text)), ["192.0.2.53", "fe80::1", "198.51.100.53"]);
});

test("hostAddresses reads the files it is given and the interfaces; a missing file holds nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-host-"));
  writeFileSync(join(dir, "resolv.conf"), "nameserver 192.0.2.53\n");
  writeFileSync(join(dir, "route"), ROUTE_V4);
  const interfaces = () => ({ eth0: [{ address: "203.0.113.5", netmask: "255.255.255.0", family: "IPv4", mac: "00:00:00:00:00:00", internal: false, cidr: "203.0.113.5/24" }] }) as ReturnType<typeof import("node:os").networkInterfaces>;
  const host = hostAddresses({ resolvConfs: [join(dir, "resolv.conf"), join(dir, "absent")], routeV4: join(dir, "route"), routeV6: join(dir, "absent"), interfaces });
  const says = (p: string): string | undefined => new HostFacts(host).covering(parsePrefix(p));
  assert.equal(says("192.0.2.0/24"), `covers this host's gateway 192.0.2.1 (${join(dir, "route")})`);
  assert.equal(says("192.0.2.53"), `covers this host's resolver 192.0.2.53 (${join(dir, "resolv.conf")})`);
  assert.equal(says("203.0.0.0/16"), "covers this host's address 203.0.113.5 (eth0)");
  assert.equal(says("198.51.100.0/25"), `covers this host's gateway 198.51.100.1 (${join(dir, "route")})`);
  assert.equal(says("198.51.100.128/25"), undefined);
  assert.equal(says("2001:db8::/32"), undefined);
});

test("under systemd-resolved the upstream resolvers of the second file count, not only the stub", () => {
  const dir = mkdtempSync(join(tmpdir(), "iblock-host-"));
  writeFileSync(join(dir, "resolv.conf"), "nameserver 127.0.0.53\noptions edns0 trust-ad\n");
  writeFileSync(join(dir, "upstream.conf"), "nameserver 198.51.100.53\nnameserver 2001:db8:53::1\n");
  const host = new HostFacts(hostAddresses({ resolvConfs: [join(dir, "resolv.conf"), join(dir, "upstream.conf")], routeV4: join(dir, "absent"), routeV6: join(dir, "absent"), interfaces: () => ({}) }));
  assert.equal(host.covering(parsePrefix("198.51.100.0/24")), `covers this host's resolver 198.51.100.53 (${join(dir, "upstream.conf")})`);
  assert.equal(host.covering(parsePrefix("2001:db8:53::/64")), `covers this host's resolver 2001:db8:53::1 (${join(dir, "upstream.conf")})`);
  assert.equal(host.covering(parsePrefix("127.0.0.0/8")), `covers this host's resolver 127.0.0.53 (${join(dir, "resolv.conf")})`);
});
