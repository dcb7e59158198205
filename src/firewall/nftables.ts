import { parsePrefix, widen, type Prefix } from "../net/address.js";
import { SetFullError, type Firewall, type FirewallBan, type HeldBan, type Integrity, type KernelHit, type KernelReport } from "./firewall.js";
import { killLinuxStates } from "./linux-states.js";
import { streamSetElements } from "./nft-listing.js";
import { claimNftTable, OWNER_SET, type TableOwner } from "./nft-owner.js";
import { NftSession } from "./nft-session.js";
import { CANARY, elementFor, nftScript, NFT_TABLE, REPORT_SET_SIZE, setFor, setNames, type NftOptions, type SetNames } from "./nft-ruleset.js";
import { feed, run } from "../util/run.js";

// Bans per transaction. 5,000 bans (15,000 element changes with add, delete,
// add) take ~140 ms at a million elements: short enough that a trap hit never
// waits long behind a restore or a storm's batch.
const CHUNK = 5_000;
// A restore only adds: twice as many per command for the same cost.
const RESTORE_CHUNK = 10_000;
// Bans per restore transaction: the first is read from the store before nft has
// anything to do, and each costs an nft process (a few milliseconds).
const RESTORE_TRANSACTION = 100_000;
const T = `inet ${NFT_TABLE}`;
// nft's answer when a keyed ban set holds max_bans elements (ENFILE).
const SET_FULL = /Too many open files in system/;

// A drain that returns this share of a report set's size drains again at once,
// and tells the daemon to scan the ban sets for what the kernel could not report.
const OVERFLOW_SHARE = 0.5;

interface NftSetJson {
  set?: { name: string; elem?: unknown[] };
}

function setsIn(json: string): NonNullable<NftSetJson["set"]>[] {
  const parsed = JSON.parse(json) as { nftables?: NftSetJson[] };
  return (parsed.nftables ?? []).flatMap((o) => (o.set ? [o.set] : []));
}

const isCanary = (key: string): boolean => key === CANARY.v4 || key === CANARY.v6 || key === `${CANARY.v6}/64`;

/** The `address . port` of a report set's element in nft's JSON. */
function reportEntry(e: unknown): { addr: string; port: number } | undefined {
  const val = typeof e === "object" && e !== null && "elem" in e ? (e as { elem: { val: unknown } }).elem.val : e;
  const concat = (val as { concat?: unknown[] } | undefined)?.concat;
  if (!Array.isArray(concat)) return undefined;
  const [addr, port] = concat;
  return typeof addr === "string" && typeof port === "number" ? { addr, port } : undefined;
}

export class NftablesFirewall implements Firewall {
  readonly name = "nftables";
  readonly can = { kernelBans: true, expiresItself: true, restoreReplaces: false } as const;
  private readonly names: SetNames;
  private readonly session: NftSession;
  private readonly nft: readonly string[];

  /** The trap ports now: the config's, less those a service took since (setTrapPorts). */
  private trapPorts: readonly number[];

  constructor(private readonly opts: NftOptions) {
    this.trapPorts = opts.trapPorts;
    this.names = setNames(opts.setName);
    this.nft = [...opts.commandPrefix, "nft"];
    this.session = new NftSession(this.nft, T);
  }

  private async apply(script: string): Promise<void> {
    await run([...this.nft, "-f", "-"], { input: script });
  }

  async setup(opts: { emptyBanSets?: boolean } = {}): Promise<void> {
    // The trap ports as they are now: a repair must not give back a port a service took.
    await this.apply(nftScript({ ...this.opts, trapPorts: this.trapPorts }, opts));
  }

  /** Element changes go through the long-running session: one line, one transaction. */
  private async change(commands: readonly string[]): Promise<void> {
    if (commands.length === 0) return;
    await this.session.request(commands.join("; ")).catch((e: Error) => {
      throw SET_FULL.test(e.message) ? new SetFullError(e.message) : e;
    });
  }

  private elements(prefixes: readonly { prefix: Prefix; suffix?: string }[], verb: "add" | "delete"): string[] {
    const bySet = new Map<string, string[]>();
    for (const { prefix, suffix = "" } of prefixes) {
      const set = setFor(prefix, this.names, this.opts);
      let items = bySet.get(set);
      if (!items) bySet.set(set, (items = []));
      items.push(elementFor(prefix, set, this.names) + suffix);
    }
    return [...bySet].map(([set, items]) => `${verb} element ${T} ${set} { ${items.join(", ")} }`);
  }

  private timed(bans: readonly FirewallBan[]): { prefix: Prefix; suffix: string }[] {
    return bans.map((b) => ({ prefix: b.prefix, suffix: b.timeoutSec ? ` timeout ${b.timeoutSec}s` : "" }));
  }

  /**
   * Add or replace: an element the kernel route already added carries the
   * first ban's timeout, and a repeat offender's must replace it. Add, delete,
   * add again in one transaction does that whether or not it is there.
   */
  async add(bans: readonly FirewallBan[]): Promise<void> {
    for (let i = 0; i < bans.length; i += CHUNK) {
      const chunk = bans.slice(i, i + CHUNK);
      const replaced = chunk.filter((b) => b.fresh !== true);
      const bare = replaced.map((b) => ({ prefix: b.prefix }));
      await this.change([...this.elements(bare, "add"), ...this.elements(bare, "delete"), ...this.elements(this.timed(chunk), "add")]);
    }
  }

  /** An element of a keyed set: what the kernel route adds, and what a scan adopts. */
  ownMade(prefix: Prefix): boolean {
    const set = setFor(prefix, this.names, this.opts);
    return set === this.names.v4 || set === this.names.v6;
  }

  /**
   * Add only: what is there keeps its timeout (a scan afterwards corrects the
   * few that differ). nft reads the whole of its input before it parses any
   * of it, so one `nft -f -` fed as the store is read would do the two one
   * after the other: the bans go as a few transactions in a row instead, each
   * read from the store and written out while nft parses and commits the one
   * before. The session meanwhile goes on with trap hits. If nft refuses one
   * (one bad element fails its whole transaction), the pages are read again
   * and go a page per transaction.
   */
  async restore(pages: () => AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    try {
      return await this.restoreInTransactions(pages());
    } catch {
      return this.restoreByPage(pages());
    }
  }

  private async restoreInTransactions(pages: AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    const source = pages[Symbol.asyncIterator]();
    let n = 0;
    let more = true;
    // The transaction nft is busy with, settled to its error: one that fails while
    // the next is being fed must not go unhandled. At most two nft at once, the
    // one parsing and the one being fed; each holds its own input, we hold a page.
    let applying: Promise<Error | undefined> = Promise.resolve(undefined);
    while (more) {
      let fed!: () => void;
      const feeding = new Promise<void>((resolve) => (fed = resolve));
      const applied = feed([...this.nft, "-f", "-"], async (write) => {
        try {
          for (let inThis = 0; inThis < RESTORE_TRANSACTION; ) {
            const next = await source.next();
            if (next.done) {
              more = false;
              return;
            }
            const page = next.value;
            for (let i = 0; i < page.length; i += RESTORE_CHUNK) {
              await write(this.elements(this.timed(page.slice(i, i + RESTORE_CHUNK)), "add").join("\n") + "\n");
            }
            inThis += page.length;
            n += page.length;
          }
        } finally {
          fed();
        }
      }).then(
        () => undefined,
        (e: Error) => e,
      );
      // The pages are read by one transaction at a time.
      await feeding;
      const failed = await applying;
      applying = applied;
      if (failed) {
        // The one being fed may still commit: it must be done before the caller
        // moves on (an unban after this restore, its fallback page by page).
        await applied;
        throw failed;
      }
    }
    const failed = await applying;
    if (failed) throw failed;
    return n;
  }

  /** The slow, sure way: a page per session transaction; a refused page throws. */
  private async restoreByPage(pages: AsyncIterable<readonly FirewallBan[]>): Promise<number> {
    let n = 0;
    for await (const page of pages) {
      for (let i = 0; i < page.length; i += RESTORE_CHUNK) {
        const chunk = page.slice(i, i + RESTORE_CHUNK);
        await this.change(this.elements(this.timed(chunk), "add"));
        n += chunk.length;
      }
    }
    return n;
  }

  /**
   * Our chains are there and no ban set was flushed (its canary is still in
   * it), through the session and without listing anything that holds
   * elements: in nft 1.0.6 `list chain` and `get element` load every element
   * of the table first (34 s at a million), while `list chains` and deleting
   * and re-adding the canaries in one transaction take about a millisecond.
   * nft refusing means something is missing; a session that cannot run nft
   * at all means we cannot tell, and throws.
   */
  async check(): Promise<Integrity> {
    const wanted = [
      "drop_banned",
      "trap",
      ...(this.opts.kernelRoute ? ["trap_answer", "trap_proven"] : []),
      ...(this.opts.redirectPort === undefined ? [] : ["trap_redirect"]),
    ];
    const chains = new Set<string>();
    try {
      const json = JSON.parse(await this.session.request("list chains inet")) as { nftables?: { chain?: { table: string; name: string } }[] };
      for (const o of json.nftables ?? []) if (o.chain?.table === NFT_TABLE) chains.add(o.chain.name);
      if (!wanted.every((c) => chains.has(c))) return "missing";
      const canaries: [string, string][] = [
        [this.names.v4, CANARY.v4],
        [this.names.v6, CANARY.v6],
        [this.names.net4, CANARY.v4],
        [this.names.net6, `${CANARY.v6}/64`],
      ];
      await this.change(canaries.flatMap(([set, c]) => [`delete element ${T} ${set} { ${c} }`, `add element ${T} ${set} { ${c} }`]));
      return "intact";
    } catch (e) {
      // Only "not there" means missing; any other refusal (busy, no memory, no permission) is "cannot tell".
      if (e instanceof Error && /No such file or directory/.test(e.message)) return "missing";
      throw e;
    }
  }

  /**
   * Delete whether or not each element is there (nft 1.0.6 has no "destroy"):
   * a plain delete first; when some element is missing, add then delete in
   * one transaction (nothing flickers); when that fails too (adding to a full
   * set fails even for what it holds), one element at a time, where "not
   * there" is what we wanted.
   */
  async remove(prefixes: readonly Prefix[]): Promise<void> {
    for (let i = 0; i < prefixes.length; i += CHUNK) {
      const items = prefixes.slice(i, i + CHUNK).map((prefix) => ({ prefix }));
      const removed = await this.change(this.elements(items, "delete")).then(
        () => true,
        () => this.change([...this.elements(items, "add"), ...this.elements(items, "delete")]).then(
          () => true,
          () => false,
        ),
      );
      if (removed) continue;
      for (const item of items) {
        await this.change(this.elements([item], "delete")).catch((e: Error) => {
          if (!/No such file or directory/.test(e.message)) throw e;
        });
      }
    }
  }

  /** Whether nftables has iblock's table, read from nft's JSON listing. */
  private async hasTable(): Promise<boolean> {
    const { stdout } = await run([...this.nft, "-j", "list", "tables", "inet"]);
    const json = JSON.parse(stdout) as { nftables?: { table?: { family: string; name: string } }[] };
    return (json.nftables ?? []).some((o) => o.table?.family === "inet" && o.table.name === NFT_TABLE);
  }

  /** The whole table goes: the ban sets, the kernel route and the trap rules are all in it. */
  async uninstall(me: TableOwner): Promise<string> {
    if (!(await this.hasTable())) return `no nftables table ${T}: nothing to remove`;
    // Never the table of another iblock (another state_dir) that runs: claiming it refuses (75) then.
    await claimNftTable(this.opts.commandPrefix, me);
    // In one transaction with our mark: if another iblock claimed the table meanwhile, our
    // element is gone, the transaction fails, and its table stays.
    await run([...this.nft, "-f", "-"], { input: `delete element ${T} ${OWNER_SET} { ${me.pid} }\ndelete table ${T}\n` });
    return `removed the nftables table ${T}: no address is dropped by iblock any more, no trap port is answered`;
  }

  /** Every element of the four ban sets, listed as text and parsed as it arrives. */
  async scan(each: (held: readonly HeldBan[]) => Promise<void>): Promise<void> {
    const sets: [string, number | undefined][] = [
      [this.names.v4, this.opts.ipv4Prefix],
      [this.names.v6, this.opts.ipv6Prefix],
      [this.names.net4, undefined],
      [this.names.net6, undefined],
    ];
    for (const [set, keyedLength] of sets) {
      await streamSetElements(this.nft, T, set, async (batch) => {
        const held: HeldBan[] = [];
        for (const e of batch) {
          if (isCanary(e.key) || e.key.includes("-")) continue; // a range made by hand is not ours
          try {
            const p = parsePrefix(e.key);
            const ownMade = keyedLength !== undefined;
            held.push({ prefix: ownMade ? widen(p, keyedLength) : p, expiresSec: e.expiresSec, ownMade });
          } catch {
            // not an address we could have written
          }
        }
        if (held.length) await each(held);
      });
    }
  }

  setTrapPorts(ports: readonly number[]): Promise<void> {
    // First: a repair (setup) running meanwhile must write these, not the old ones.
    this.trapPorts = ports;
    return this.change([`flush set ${T} traps`, ...(ports.length ? [`add element ${T} traps { ${ports.join(", ")} }`] : [])]);
  }

  killStates(prefixes: readonly Prefix[]): Promise<void> {
    return killLinuxStates(prefixes, this.opts.commandPrefix);
  }

  /**
   * Read the report sets and delete what was read, so each set holds only the
   * hits since the last drain (a storm of any size passes through a small
   * set), and an entry seen again is a new hit. An entry the kernel adds
   * between the listing and the delete is the same source on the same port,
   * already banned.
   */
  async drainKernelHits(): Promise<KernelReport> {
    const hits: KernelHit[] = [];
    let overflowed = false;
    const sets: [string, boolean][] = [
      [this.names.seen4, false],
      [this.names.seen6, false],
      ...(this.opts.synBanSec === undefined
        ? []
        : ([
            [this.names.syn4, true],
            [this.names.syn6, true],
          ] as [string, boolean][])),
    ];
    let failure: Error | undefined;
    for (const [name, syn] of sets) {
      // A set listed while the kernel adds to it (a storm, a rehash) can name an
      // element twice; deleting one twice in a transaction fails it whole.
      const entries = new Set<string>();
      let listing: string;
      try {
        listing = await this.session.request(`list set ${T} ${name}`);
      } catch (e) {
        failure = e as Error; // the hits of the other sets are still handed on
        continue;
      }
      for (const set of setsIn(listing)) {
        for (const e of set.elem ?? []) {
          const r = reportEntry(e);
          const entry = r && `${r.addr} . ${r.port}`;
          if (!r || !entry || entries.has(entry)) continue;
          entries.add(entry);
          hits.push({ prefix: parsePrefix(r.addr), port: r.port, syn });
        }
      }
      if (entries.size >= REPORT_SET_SIZE * OVERFLOW_SHARE) overflowed = true;
      const listed = [...entries];
      for (let i = 0; i < listed.length; i += CHUNK) {
        const items = listed.slice(i, i + CHUNK).join(", ");
        // Delete alone first: adding to a full set fails even for an element it holds.
        // Only when some entry timed out meanwhile does the delete need the add before it.
        await this.change([`delete element ${T} ${name} { ${items} }`]).catch(() =>
          this.change([`add element ${T} ${name} { ${items} }`, `delete element ${T} ${name} { ${items} }`]),
        );
      }
    }
    if (failure && hits.length === 0) throw failure;
    return { hits, overflowed };
  }

  close(): Promise<void> {
    this.session.close();
    return Promise.resolve();
  }
}
