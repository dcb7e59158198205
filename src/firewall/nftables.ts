import { overlaps, parsePrefix, widen, type Prefix } from "../policy/address.js";
import type { Firewall, FirewallBan, KernelHit } from "./firewall.js";
import { killLinuxStates } from "./linux-states.js";
import { NftSession } from "./nft-session.js";
import { CANARY, elementFor, nftScript, NFT_TABLE, setFor, setNames, type NftOptions, type SetNames } from "./nft-ruleset.js";
import { run } from "./run.js";

// nft parses huge element lists slowly and with much memory: at most this many
// bans per transaction (DESIGN.md measured 10,000 per command as fast; each
// ban here is three elements: add, delete, add with its timeout).
const CHUNK = 5_000;
const T = `inet ${NFT_TABLE}`;

type NftElem = string | { prefix?: { addr: string; len: number }; elem?: { val: unknown; expires?: number }; concat?: unknown[] };
interface NftSetJson {
  set?: { name: string; elem?: NftElem[] };
}

function setsIn(json: string): NonNullable<NftSetJson["set"]>[] {
  const parsed = JSON.parse(json) as { nftables?: NftSetJson[] };
  return (parsed.nftables ?? []).flatMap((o) => (o.set ? [o.set] : []));
}

const isCanary = (address: string): boolean => address === CANARY.v4 || address === CANARY.v6;

/** The prefix an element of one of our ban sets stands for; canaries stand for none. */
function elemPrefix(e: unknown, keyedLength: number | undefined): Prefix | undefined {
  if (e === CANARY.v4 || e === CANARY.v6) return undefined; // before widening changes it
  if (typeof e === "string") {
    const p = parsePrefix(e);
    return keyedLength === undefined ? p : widen(p, keyedLength);
  }
  if (e && typeof e === "object") {
    const o = e as { prefix?: { addr: string; len: number }; elem?: { val: unknown } };
    if (o.prefix) return isCanary(o.prefix.addr) ? undefined : parsePrefix(`${o.prefix.addr}/${o.prefix.len}`);
    if (o.elem) return elemPrefix(o.elem.val, keyedLength);
  }
  return undefined; // a range made by hand: not ours
}

export class NftablesFirewall implements Firewall {
  readonly name = "nftables";
  private readonly names: SetNames;
  private readonly session: NftSession;
  private readonly nft: readonly string[];
  /** seen-set entries already reported, with when the kernel will expire them. */
  private readonly reported = new Map<string, number>();

  constructor(private readonly opts: NftOptions) {
    this.names = setNames(opts.setName);
    this.nft = [...opts.commandPrefix, "nft"];
    this.session = new NftSession(this.nft);
  }

  private async apply(script: string): Promise<void> {
    await run([...this.nft, "-f", "-"], { input: script });
  }

  async setup(): Promise<void> {
    await this.apply(nftScript(this.opts));
  }

  /** Element changes go through the long-running session: one line, one transaction. */
  private async change(commands: readonly string[]): Promise<void> {
    await this.session.request(commands.join("; "));
  }

  private elements(prefixes: readonly { prefix: Prefix; suffix?: string }[], verb: "add" | "delete"): string[] {
    const bySet = new Map<string, string[]>();
    for (const { prefix, suffix = "" } of prefixes) {
      const set = setFor(prefix, this.names, this.opts);
      const items = bySet.get(set) ?? bySet.set(set, []).get(set)!;
      items.push(elementFor(prefix, set, this.names) + suffix);
    }
    const lines: string[] = [];
    for (const [set, items] of bySet) {
      for (let i = 0; i < items.length; i += CHUNK) {
        lines.push(`${verb} element ${T} ${set} { ${items.slice(i, i + CHUNK).join(", ")} }`);
      }
    }
    return lines;
  }

  /**
   * Add or replace: an element the kernel route already added carries the
   * first ban's timeout, and a repeat offender's must replace it. Add, delete,
   * add again in one transaction does that whether or not it is there.
   */
  async add(bans: readonly FirewallBan[]): Promise<void> {
    // One transaction per chunk, so restoring a huge store never makes one giant line.
    for (let i = 0; i < bans.length; i += CHUNK) {
      const chunk = bans.slice(i, i + CHUNK);
      const bare = chunk.map((b) => ({ prefix: b.prefix }));
      const timed = chunk.map((b) => ({ prefix: b.prefix, suffix: b.timeoutSec ? ` timeout ${b.timeoutSec}s` : "" }));
      await this.change([...this.elements(bare, "add"), ...this.elements(bare, "delete"), ...this.elements(timed, "add")]);
    }
  }

  /**
   * Our chains are there and no ban set was flushed (its canary is still in
   * it). One nft process, no listing of elements: cheap however large the sets.
   * (Not through the session: `get element` answers in text over many lines.)
   */
  async intact(): Promise<boolean> {
    const checks = [
      `list chain ${T} drop_banned`,
      `list chain ${T} trap`,
      ...(this.opts.redirectPort === undefined ? [] : [`list chain ${T} trap_redirect`]),
      `get element ${T} ${this.names.v4} { ${CANARY.v4} }`,
      `get element ${T} ${this.names.v6} { ${CANARY.v6} }`,
      `get element ${T} ${this.names.net4} { ${CANARY.v4} }`,
      `get element ${T} ${this.names.net6} { ${CANARY.v6} }`,
    ];
    return this.apply(checks.join("\n") + "\n").then(
      () => true,
      () => false,
    );
  }

  async remove(prefixes: readonly Prefix[]): Promise<void> {
    if (prefixes.length === 0) return;
    const items = prefixes.map((prefix) => ({ prefix }));
    // Adding first makes the delete succeed whether or not the element is there
    // (nft 1.0.6 has no "destroy"), in one transaction, so nothing flickers.
    const seen = this.seenOf(prefixes);
    await this.change([...this.elements(items, "add"), ...this.elements(items, "delete"), ...seen]);
  }

  /** Forget kernel hits of unbanned sources, so a new hit is reported again. */
  private seenOf(prefixes: readonly Prefix[]): string[] {
    const lines: string[] = [];
    for (const key of this.reported.keys()) {
      const [kind, addr = "", port = ""] = key.split("|");
      if (!prefixes.some((q) => overlaps(parsePrefix(addr), q))) continue;
      const p = parsePrefix(addr);
      const set = kind === "syn" ? (p.family === 4 ? this.names.syn4 : this.names.syn6) : p.family === 4 ? this.names.seen4 : this.names.seen6;
      lines.push(`add element ${T} ${set} { ${addr} . ${port} }`, `delete element ${T} ${set} { ${addr} . ${port} }`);
      this.reported.delete(key);
    }
    return lines;
  }

  async list(): Promise<Prefix[]> {
    const { stdout } = await run([...this.nft, "-j", "list", "table", ...T.split(" ")]);
    const keyed: Record<string, number | undefined> = {
      [this.names.v4]: this.opts.ipv4Prefix,
      [this.names.v6]: this.opts.ipv6Prefix,
      [this.names.net4]: undefined,
      [this.names.net6]: undefined,
    };
    const out: Prefix[] = [];
    for (const set of setsIn(stdout)) {
      if (!(set.name in keyed)) continue;
      for (const e of set.elem ?? []) {
        const p = elemPrefix(e, keyed[set.name]);
        if (p) out.push(p);
      }
    }
    return out;
  }

  killStates(prefixes: readonly Prefix[]): Promise<void> {
    return killLinuxStates(prefixes, this.opts.commandPrefix);
  }

  async drainKernelHits(): Promise<KernelHit[]> {
    const now = Date.now();
    const hits: KernelHit[] = [];
    for (const [name, syn] of [
      [this.names.seen4, false],
      [this.names.seen6, false],
      ...(this.opts.synBanSec === undefined ? [] : [[this.names.syn4, true], [this.names.syn6, true]] as const),
    ] as const) {
      const json = await this.session.request(`list set ${T} ${name}`);
      for (const set of setsIn(json)) {
        for (const e of set.elem ?? []) {
          const wrapped = typeof e === "object" && e.elem ? e.elem : { val: e, expires: undefined };
          const concat = (wrapped.val as { concat?: unknown[] } | undefined)?.concat;
          if (!Array.isArray(concat)) continue;
          const [addr, port] = concat;
          if (typeof addr !== "string" || typeof port !== "number") continue;
          const key = `${syn ? "syn" : "ack"}|${addr}|${port}`;
          const deadline = now + (wrapped.expires ?? 0) * 1000;
          const known = this.reported.get(key);
          // The same entry counts down; a later deadline means it expired and came back.
          if (known !== undefined && deadline <= known + 2000) continue;
          this.reported.set(key, deadline);
          hits.push({ prefix: parsePrefix(addr), port, syn });
        }
      }
    }
    for (const [key, deadline] of this.reported) if (deadline < now - 5000) this.reported.delete(key);
    return hits;
  }

  close(): Promise<void> {
    this.session.close();
    return Promise.resolve();
  }
}
