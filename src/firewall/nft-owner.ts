import { accessSync, constants, lstatSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../config.js";
import { configError, EX_TEMPFAIL, IblockError, unavailableError } from "../errors.js";
import { LOCK_FILE, lockHolder } from "../state-lock.js";
import { NFT_TABLE } from "./nft-ruleset.js";
import { run } from "../util/run.js";

// One iblock per host's firewall. The nft table is the host's (its network
// namespace's), while the daemon's lock is its state dir's: the table itself
// says whose it is. Only who may change the firewall can write that mark, so
// no local user can plant one; a lock file in /run would be neither per
// namespace nor out of reach of an unprivileged daemon run through doas.
// A set of size 1 keyed by the owner's pid, its state dir in the comment:
// taking it over is "delete the old pid, add ours" in one transaction, which
// fails when someone else took it meanwhile.
const T = `inet ${NFT_TABLE}`;
export const OWNER_SET = "owner";

export interface TableOwner {
  pid: number;
  stateDir: string;
}

// nft's comments: at most 128 characters, no quotes. Anything but a plain path character is %-escaped.
const encode = (dir: string): string => dir.replace(/[^A-Za-z0-9/._-]/gu, (c) => encodeURIComponent(c));

function decode(comment: string): string | undefined {
  try {
    return decodeURIComponent(comment);
  } catch {
    return undefined;
  }
}

async function readOwner(nft: readonly string[]): Promise<TableOwner | undefined> {
  const r = await run([...nft, "-j", "list", "set", ...T.split(" "), OWNER_SET]);
  const parsed = JSON.parse(r.stdout) as { nftables?: { set?: { elem?: unknown[] } }[] };
  for (const o of parsed.nftables ?? []) {
    for (const e of o.set?.elem ?? []) {
      const elem = (e as { elem?: { val?: unknown; comment?: unknown } }).elem;
      if (typeof elem?.val !== "number") continue;
      return { pid: elem.val, stateDir: (typeof elem.comment === "string" && decode(elem.comment)) || "" };
    }
  }
  return undefined;
}

/** Whether a process has this pid (EPERM: it has, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The owner's lock: there (a plain file, never a link or a FIFO to open as root), absent, or not ours to read. */
function lockOf(stateDir: string): "readable" | "absent" | "unreadable" {
  if (!stateDir.startsWith("/")) return "absent";
  const file = join(stateDir, LOCK_FILE);
  try {
    if (!lstatSync(file).isFile()) return "absent";
    accessSync(file, constants.R_OK);
    return "readable";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" ? "absent" : "unreadable";
  }
}

/**
 * The pid of the iblock that marked the table, while it still runs; undefined
 * once it is gone. The mark is believed as it stands: only who may change the
 * firewall could write it. Its state dir's lock says whether its daemon runs
 * (held) or not (free, or no lock: a one-shot's mark, whose pid died with it),
 * whatever process has that pid now. Only where we may not read the lock (a
 * daemon of another user, a dir of 0750 that is not ours) does the pid decide:
 * taken to run while a process has it, since taking over the table of a
 * running iblock would undo its firewall.
 */
function stillRunning(owner: TableOwner): number | undefined {
  switch (lockOf(owner.stateDir)) {
    case "absent":
      return undefined;
    case "unreadable":
      return alive(owner.pid) ? owner.pid : undefined;
    case "readable": {
      const holder = lockHolder(owner.stateDir);
      if (holder === undefined) return undefined;
      return holder === "unknown" ? owner.pid : holder;
    }
  }
}

/**
 * Mark the nft table as ours, or throw EX_TEMPFAIL naming the iblock of
 * another state dir that runs on it. A mark left by one that no longer runs
 * is taken over: its state dir is returned, to say so.
 */
export async function claimNftTable(commandPrefix: readonly string[], me: TableOwner, oneShot = false): Promise<string | undefined> {
  const nft = [...commandPrefix, "nft"];
  const stateDir = resolve(me.stateDir);
  if (encode(stateDir).length > 128) throw configError(`state_dir ${stateDir} is too long to name in the nftables table's owner mark (128 characters once escaped)`);
  const mark = `${me.pid} comment "${encode(stateDir)}"`;
  await run([...nft, "-f", "-"], { input: `table ${T} {}\nadd set ${T} ${OWNER_SET} { type mark; size 1; }\n` });
  for (let attempt = 0; attempt < 3; attempt++) {
    const held = await readOwner(nft);
    if (held && held.pid === me.pid && held.stateDir === stateDir) return undefined;
    // A one-shot (CLI, inetd) of the owner's state dir needs no mark of its own pid, which dies with it:
    // many of them at once (a scan through inetd) would only turn each other away.
    if (held && oneShot && held.stateDir === stateDir) return undefined;
    let takenFrom: string | undefined;
    if (held && held.stateDir !== stateDir) {
      const pid = stillRunning(held);
      if (pid !== undefined) {
        throw new IblockError(
          `the nftables table ${T} belongs to another iblock (pid ${pid}, state_dir ${held.stateDir}): one iblock per host's firewall; stop that one, or use its state_dir`,
          EX_TEMPFAIL,
        );
      }
      takenFrom = held.stateDir;
    }
    const script = [...(held ? [`delete element ${T} ${OWNER_SET} { ${held.pid} }`] : []), `add element ${T} ${OWNER_SET} { ${mark} }`];
    const claimed = await run([...nft, "-f", "-"], { input: script.join("\n") + "\n" }).then(
      () => true,
      () => false, // another iblock changed the mark meanwhile: read it again
    );
    if (claimed) return takenFrom;
  }
  throw new IblockError(`the nftables table ${T} is being claimed by another iblock: try again`, EX_TEMPFAIL);
}

/**
 * One iblock per host's firewall, for every iblock that changes it (the
 * daemon, the CLI with no daemon, the inetd one-shot, teardown): on nftables
 * the table is claimed, or this throws EX_TEMPFAIL naming its owner, or
 * EX_UNAVAILABLE when nft cannot be used. Other firewalls have no table of
 * iblock's own to mark: nothing to do. Returns the state dir of an owner that
 * no longer runs, whose mark was taken over. `oneShot`: a process that exits
 * once done, whose pid means nothing once it has.
 */
export async function claimFirewall(config: Pick<Config, "firewall" | "command_prefix" | "state_dir">, oneShot = false): Promise<string | undefined> {
  if (config.firewall !== "nftables") return undefined;
  return claimNftTable(config.command_prefix, { pid: process.pid, stateDir: config.state_dir }, oneShot).catch((e: unknown) => {
    if (e instanceof IblockError) throw e;
    throw unavailableError(`cannot set up the nftables firewall: ${e instanceof Error ? e.message : String(e)}`);
  });
}
