// Reading other tables' DNAT rules from `nft -j -t list ruleset` (the shapes
// nft 1.0.6 prints, copied from a real listing).
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeForwards, forwardedTrapPorts } from "../../src/firewall/nft-forwards.js";

const rule = (table: string, expr: unknown[]) => ({ rule: { family: "ip", table, chain: "PREROUTING", handle: 1, expr } });
const dport = (right: unknown, op = "==") => ({ match: { op, left: { payload: { protocol: "tcp", field: "dport" } }, right } });
const DNAT = { dnat: { addr: "198.51.100.9", port: 3389 } };
const TRAPS = [21, 23, 3389, 5432, 6003];

test("DNAT rules name the trap ports they forward: a port, a set with a range, no port match at all", () => {
  const json = {
    nftables: [
      { metainfo: { version: "1.0.6" } },
      rule("nat", [dport(3389), DNAT]),
      rule("nat", [dport({ set: [5432, { range: [6000, 6005] }] }), { dnat: { addr: "198.51.100.9" } }]),
      rule("docker", [{ match: { op: "==", left: { meta: { key: "iifname" } }, right: "eth0" } }, DNAT]),
    ],
  };
  assert.deepEqual(
    forwardedTrapPorts(json, TRAPS).ports.map((f) => `${f.port} ${f.where}`),
    ["3389 table ip nat, chain PREROUTING", "5432 table ip nat, chain PREROUTING", "6003 table ip nat, chain PREROUTING", ...TRAPS.map((p) => `${p} table ip docker, chain PREROUTING`)],
  );
});

test("not a forward of a trap port: iblock's own redirect, another port, a negated match, a UDP rule, no NAT, the output hook", () => {
  const json = {
    nftables: [
      { chain: { family: "ip", table: "nat", name: "OUTPUT", hook: "output", prio: -100 } },
      { rule: { family: "ip", table: "nat", chain: "OUTPUT", handle: 2, expr: [dport(3389), DNAT] } },
      rule("iblock", [dport(23), { redirect: { port: 2507 } }]),
      rule("nat", [dport(8080), DNAT]),
      rule("nat", [dport(3389, "!="), DNAT]),
      rule("nat", [{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: "udp" } }, DNAT]),
      rule("nat", [{ match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 3389 } }, DNAT]),
      rule("filter", [dport(3389), { accept: null }]),
    ],
  };
  assert.deepEqual(forwardedTrapPorts(json, TRAPS), { ports: [], unreadable: [] });
});

test("an iptables-nft DNAT (a compat target) and a DNAT through a map are named as ones whose ports cannot be read", () => {
  const json = {
    nftables: [
      rule("nat", [dport(3389), { xt: { type: "target", name: "DNAT" } }]),
      // systemd-nspawn's: dnat ip addr . port to meta l4proto . th dport map @map_port_ipport
      rule("io.systemd.nat", [{ dnat: { family: "ip", addr: { map: { key: { concat: [{ meta: { key: "l4proto" } }, { payload: { protocol: "th", field: "dport" } }] }, data: "@map_port_ipport" } } } }]),
    ],
  };
  const found = forwardedTrapPorts(json, TRAPS);
  assert.deepEqual(found, { ports: [], unreadable: ["table ip nat, chain PREROUTING", "table ip io.systemd.nat, chain PREROUTING"] });
  assert.match(describeForwards(found)[0] ?? "", /a DNAT rule iblock cannot read \(table ip nat, chain PREROUTING: an iptables target or a map\) may forward trap ports/);
});

test("one line per rule, naming its ports", () => {
  assert.deepEqual(
    describeForwards({
      ports: [
        { port: 3389, where: "table ip nat, chain PREROUTING" },
        { port: 5432, where: "table ip nat, chain PREROUTING" },
      ],
      unreadable: [],
    }),
    ["trap port(s) 3389, 5432 forwarded elsewhere by a DNAT rule (table ip nat, chain PREROUTING): their connections are never trapped; remove them from trap_ports"],
  );
});
