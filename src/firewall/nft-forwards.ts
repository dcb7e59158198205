import { NFT_TABLE } from "./nft-ruleset.js";
import { run } from "./run.js";

/** A DNAT or redirect rule outside iblock's table that sends a trap port elsewhere. */
export interface ForwardedPort {
  port: number;
  /** Where the rule is: "table ip nat, chain PREROUTING". */
  where: string;
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

/**
 * The trap ports each DNAT/redirect rule of another table covers. Those
 * connections never reach this host's input hook, so the kernel route never
 * answers them: saying so tells the admin why such a port traps nobody. A rule
 * with no `tcp dport` match covers every port. A `dport !=` match or one we
 * cannot read is taken as covering none (nothing is said rather than
 * something false).
 */
export function forwardedTrapPorts(json: unknown, trapPorts: readonly number[]): ForwardedPort[] {
  const items = isObject(json) && Array.isArray(json.nftables) ? json.nftables : [];
  const out: ForwardedPort[] = [];
  for (const item of items) {
    const rule = isObject(item) && isObject(item.rule) ? (item.rule as unknown as NftRule) : undefined;
    if (!rule || rule.table === NFT_TABLE || !Array.isArray(rule.expr)) continue;
    const exprs = rule.expr.filter(isObject);
    if (!exprs.some((e) => "dnat" in e || "redirect" in e)) continue;
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
    const where = `table ${rule.family} ${rule.table}, chain ${rule.chain}`;
    for (const port of trapPorts) {
      if (ranges === undefined || ranges.some(([lo, hi]) => port >= lo && port <= hi)) out.push({ port, where });
    }
  }
  return out;
}

/** The ruleset's DNAT rules that cover trap ports; none when nft cannot list it. */
export async function listForwardedTrapPorts(commandPrefix: readonly string[], trapPorts: readonly number[]): Promise<ForwardedPort[]> {
  // Terse: no set elements (ours may hold a million).
  const r = await run([...commandPrefix, "nft", "-j", "-t", "list", "ruleset"]).catch(() => undefined);
  if (!r) return [];
  return forwardedTrapPorts(JSON.parse(r.stdout), trapPorts);
}

/** One line naming each rule and the trap ports it forwards. */
export function describeForwards(forwards: readonly ForwardedPort[]): string[] {
  const byRule = new Map<string, number[]>();
  for (const f of forwards) byRule.set(f.where, [...(byRule.get(f.where) ?? []), f.port]);
  return [...byRule].map(
    ([where, ports]) => `trap port(s) ${ports.join(", ")} forwarded elsewhere by a DNAT rule (${where}): their connections are never trapped; remove them from trap_ports`,
  );
}
