import { NFT_TABLE } from "./nft-ruleset.js";
import { run } from "../util/run.js";

/** A DNAT or redirect rule outside iblock's table that sends a trap port elsewhere. */
export interface ForwardedPort {
  port: number;
  /** Where the rule is: "table ip nat, chain PREROUTING". */
  where: string;
}

/** What the ruleset says of trap ports that are forwarded. */
export interface Forwards {
  ports: ForwardedPort[];
  /** DNAT rules whose ports cannot be read here: iptables-nft's (compat targets), those through a map. */
  unreadable: string[];
}

interface NftRule {
  family: string;
  table: string;
  chain: string;
  expr?: unknown[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** The ports a `tcp dport` match's right-hand side names: a number, a range, a set of either. */
function portsOf(right: unknown): [number, number][] {
  if (typeof right === "number") return [[right, right]];
  if (!isObject(right)) return [];
  if (Array.isArray(right.range) && typeof right.range[0] === "number" && typeof right.range[1] === "number") return [[right.range[0], right.range[1]]];
  if (Array.isArray(right.set)) return right.set.flatMap(portsOf);
  return [];
}

/** Whether a statement's value holds a map lookup anywhere (a DNAT whose target depends on the packet). */
const hasMap = (v: unknown): boolean => isObject(v) && ("map" in v || Object.values(v).some(hasMap));

/**
 * The trap ports each DNAT/redirect rule of another table covers. Those
 * connections never reach this host's input hook, so the kernel route never
 * answers them: saying so tells the admin why such a port traps nobody. A rule
 * with no `tcp dport` match covers every port. Not counted, rather than
 * counted wrongly: a rule of the output hook (it forwards nothing that comes
 * in), a `dport !=` match, a rule of another protocol. Named as unreadable: a
 * DNAT through a map (systemd-nspawn's, keyed by port), an iptables target.
 */
export function forwardedTrapPorts(json: unknown, trapPorts: readonly number[]): Forwards {
  const items = isObject(json) && Array.isArray(json.nftables) ? json.nftables.filter(isObject) : [];
  const outputChains = new Set(
    items.flatMap((i) => (isObject(i.chain) && i.chain.hook === "output" ? [`${String(i.chain.family)} ${String(i.chain.table)} ${String(i.chain.name)}`] : [])),
  );
  const out: Forwards = { ports: [], unreadable: [] };
  for (const item of items) {
    const rule = isObject(item.rule) ? (item.rule as unknown as NftRule) : undefined;
    if (!rule || rule.table === NFT_TABLE || !Array.isArray(rule.expr)) continue;
    if (outputChains.has(`${rule.family} ${rule.table} ${rule.chain}`)) continue;
    const where = `table ${rule.family} ${rule.table}, chain ${rule.chain}`;
    const exprs = rule.expr.filter(isObject);
    if (exprs.some((e) => isObject(e.xt) && e.xt.name === "DNAT")) {
      out.unreadable.push(where);
      continue;
    }
    const nat = exprs.find((e) => "dnat" in e || "redirect" in e);
    if (!nat) continue;
    if (hasMap(nat.dnat) || hasMap(nat.redirect)) {
      out.unreadable.push(where);
      continue;
    }
    let ranges: [number, number][] | undefined;
    let unreadable = false;
    for (const e of exprs) {
      const m = isObject(e.match) ? e.match : undefined;
      if (!m || !isObject(m.left)) continue;
      // Another protocol's rule (udp dport, meta l4proto udp) forwards no TCP port.
      const l4 = isObject(m.left.meta) && m.left.meta.key === "l4proto";
      if (l4 && m.right !== "tcp" && m.right !== 6) unreadable = true;
      const left = isObject(m.left.payload) ? m.left.payload : undefined;
      if (left && left.protocol !== "tcp" && (left.field === "dport" || left.field === "sport")) unreadable = true;
      if (!left || left.protocol !== "tcp" || left.field !== "dport") continue;
      if (m.op !== "==" && m.op !== "in") unreadable = true;
      else ranges = portsOf(m.right);
    }
    if (unreadable) continue;
    for (const port of trapPorts) {
      if (ranges === undefined || ranges.some(([lo, hi]) => port >= lo && port <= hi)) out.ports.push({ port, where });
    }
  }
  return out;
}

/** The ruleset's DNAT rules that cover trap ports; undefined when nft cannot list it or its listing cannot be read. */
export async function listForwardedTrapPorts(commandPrefix: readonly string[], trapPorts: readonly number[]): Promise<Forwards | undefined> {
  try {
    // Terse: no set elements (ours may hold a million).
    const r = await run([...commandPrefix, "nft", "-j", "-t", "list", "ruleset"]);
    return forwardedTrapPorts(JSON.parse(r.stdout), trapPorts);
  } catch {
    return undefined;
  }
}

/** One line naming each rule and the trap ports it forwards, or that its ports cannot be read. */
export function describeForwards(forwards: Forwards): string[] {
  const byRule = new Map<string, number[]>();
  for (const f of forwards.ports) byRule.set(f.where, [...(byRule.get(f.where) ?? []), f.port]);
  return [
    ...[...byRule].map(
      ([where, ports]) => `trap port(s) ${ports.join(", ")} forwarded elsewhere by a DNAT rule (${where}): their connections are never trapped; remove them from trap_ports`,
    ),
    ...[...new Set(forwards.unreadable)].map(
      (where) => `a DNAT rule iblock cannot read (${where}: an iptables target or a map) may forward trap ports; a port it forwards is never trapped`,
    ),
  ];
}
