import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePrefix } from "../../src/net/address.js";
import { ADOPTED, DEFAULT_RULES, decideHit, isBorrowed, liftedSince, offences, plannedExpiry, type BanRules } from "../../src/bans/rules.js";
import type { BanRow, HitFacts, HitGroup, PastBans } from "../../src/store/store.js";

// The rules alone: facts are given, no store is opened.
const H = 3_600_000;
const t0 = 1_700_000_000_000;
const rules: BanRules = { ...DEFAULT_RULES, times: { banMs: H, multiplier: 2, maxMs: 5 * H } };

const row = (prefix: string, over: Partial<BanRow> = {}): BanRow => ({
  id: 1, prefix, first_seen: t0, last_seen: t0, hits: 1, port: null, source: "trap", reason: null, expires_at: t0 + H, ended_at: null, end_reason: null, origin: null, end_kind: null, ...over,
});

function facts(g: Partial<Omit<HitGroup, "prefix">> & { prefix?: string }, over: Partial<Omit<HitFacts, "group">> = {}): HitFacts {
  const group: HitGroup = { ports: new Map([[23, 1]]), source: "trap", at: t0, ...g, prefix: parsePrefix(g.prefix ?? "192.0.2.7") };
  // The wider bans: the one `covering` gives, unless a test says more.
  const wider = (): BanRow[] => {
    const c = over.covering?.();
    return c ? [c] : [];
  };
  return { group, hits: 1, counted: 1, open: undefined, pastBans: () => [], lastBan: () => undefined, covering: () => undefined, wider, recentHits: () => 1, ...over };
}

test("the first hit bans for ban_time; each offence doubles it up to the most", () => {
  assert.deepEqual(decideHit(facts({}), rules), { kind: "ban", expires_at: t0 + H, nth: 1, hits: 1 });
  const past: PastBans[] = [{ source: "trap", ending: "expired", n: 3 }];
  assert.deepEqual(decideHit(facts({}, { pastBans: () => past }), rules), { kind: "ban", expires_at: t0 + 5 * H, nth: 4, hits: 1 });
});

test("offences: lifted, covered and adopted bans do not count", () => {
  const past: PastBans[] = [
    { source: "trap", ending: null, n: 1 },
    { source: "trap", ending: "expired", n: 2 },
    { source: "cli", ending: "unban", n: 5 },
    { source: ADOPTED, ending: "expired", n: 7 },
  ];
  assert.equal(offences(past), 3);
});

test("a SYN ban lasts syn_ban_time; a given length wins over both", () => {
  assert.equal(plannedExpiry({ source: "syn", at: t0 }, 3, rules), t0 + rules.synMs);
  assert.equal(plannedExpiry({ source: "syn", at: t0, durationMs: Infinity }, 1, rules), null);
});

test("the threshold holds a trap hit back, never a deliberate ban", () => {
  const strict = { ...rules, threshold: 3 };
  assert.deepEqual(decideHit(facts({}, { recentHits: () => 2 }), strict), { kind: "none" });
  assert.deepEqual(decideHit(facts({}, { recentHits: () => 3 }), strict), { kind: "ban", expires_at: t0 + H, nth: 1, hits: 3 });
  assert.equal(decideHit(facts({ source: "cli" }, { recentHits: () => 0 }), strict).kind, "ban");
});

test("our own hit takes over a borrowed ban; a borrowed source does not", () => {
  assert.ok(isBorrowed("peer") && isBorrowed(ADOPTED) && isBorrowed("feed:spamhaus") && !isBorrowed("trap"));
  const open = row("192.0.2.7/32", { source: "feed:x", expires_at: null });
  assert.deepEqual(decideHit(facts({}, { open }), rules), { kind: "take-over", expires_at: t0 + H });
  assert.deepEqual(decideHit(facts({ source: "peer" }, { open }), rules), { kind: "count", on: open });
});

test("`ban --time` on a ban in force gives it the new length", () => {
  const open = row("192.0.2.7/32");
  assert.deepEqual(decideHit(facts({ source: "cli", durationMs: 2 * H }, { open }), rules), { kind: "retime", expires_at: t0 + 2 * H });
});

test("a wider ban lasting as long takes the hit; one ending sooner gets a ban inside", () => {
  const long = row("192.0.2.0/24", { expires_at: null });
  assert.deepEqual(decideHit(facts({}, { covering: () => long }), rules), { kind: "count", on: long });
  const short = row("192.0.2.0/24", { expires_at: t0 + 60_000 });
  assert.equal(decideHit(facts({}, { covering: () => short }), rules).kind, "ban");
  // A /30 cannot sit inside the /24 in the firewall: it only counts there.
  assert.equal(decideHit(facts({ prefix: "192.0.2.4/30", source: "cli" }, { covering: () => short }), rules).kind, "count");
});

test("a late kernel report does not bring back a ban lifted since", () => {
  const lifted = row("192.0.2.7/32", { ended_at: t0 + 10, end_reason: "cli", end_kind: "unban" });
  assert.ok(liftedSince(lifted, t0));
  assert.ok(!liftedSince({ ...lifted, end_kind: "expired" }, t0));
  assert.deepEqual(decideHit(facts({ source: "kernel" }, { hits: 0, counted: 0, lastBan: () => lifted }), rules), { kind: "none" });
});

test("fail2ban and sshguard: no threshold; they take a ban in force only when theirs ends later; a proven hit or a person takes theirs", () => {
  const strict = { ...rules, threshold: 3 };
  assert.equal(decideHit(facts({ source: "fail2ban", durationMs: H }, { recentHits: () => 0 }), strict).kind, "ban");
  const trap = row("192.0.2.7/32", { expires_at: null });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", durationMs: H }, { open: trap }), rules), { kind: "count", on: trap });
  const guard = row("192.0.2.7/32", { source: "sshguard", expires_at: t0 + H });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", durationMs: 5 * H }, { open: guard }), rules), { kind: "take-over", expires_at: t0 + 5 * H });
  // A person's or a trap's ban stays theirs (no tool's release lifts it), lengthened.
  const person = row("192.0.2.7/32", { source: "cli", expires_at: t0 + H });
  assert.deepEqual(decideHit(facts({ source: "sshguard", durationMs: 5 * H }, { open: person }), rules), { kind: "retime", expires_at: t0 + 5 * H });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", durationMs: H / 2 }, { open: guard }), rules), { kind: "count", on: guard });
  // A scanner that touched a trap (or forged a SYN) first does not shorten recidive's permanent ban.
  const hour = row("192.0.2.7/32", { source: "syn", expires_at: t0 + H });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", reason: "recidive", durationMs: Infinity }, { open: hour }), rules), { kind: "retime", expires_at: null });
  const feed = row("192.0.2.7/32", { source: "feed:x", expires_at: null });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", durationMs: H }, { open: feed }), rules), { kind: "take-over", expires_at: t0 + H });
  // A trap hit makes it ours, never shorter than the tool said; a SYN or a peer only counts.
  const jail = row("192.0.2.7/32", { source: "fail2ban", reason: "sshd", expires_at: t0 + 5 * H });
  assert.deepEqual(decideHit(facts({}, { open: jail }), rules), { kind: "take-over", expires_at: t0 + 5 * H });
  assert.deepEqual(decideHit(facts({ source: "kernel" }, { open: { ...jail, expires_at: t0 + 1000 } }), rules), { kind: "take-over", expires_at: t0 + H });
  assert.deepEqual(decideHit(facts({ source: "syn" }, { open: jail }), rules), { kind: "count", on: jail });
  assert.deepEqual(decideHit(facts({ source: "peer", durationMs: H }, { open: jail }), rules), { kind: "count", on: jail });
  assert.deepEqual(decideHit(facts({ source: "cli", durationMs: H }, { open: jail }), rules), { kind: "take-over", expires_at: t0 + H });
});

test("a second jail's ban owns the address only when it ends later", () => {
  const sshd = row("192.0.2.7/32", { source: "fail2ban", reason: "sshd", expires_at: t0 + H });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", reason: "recidive", durationMs: 7 * H }, { open: sshd }), rules), { kind: "take-over", expires_at: t0 + 7 * H });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", reason: "other", durationMs: H / 2 }, { open: sshd }), rules), { kind: "count", on: sshd });
  assert.deepEqual(decideHit(facts({ source: "fail2ban", durationMs: Infinity }, { open: sshd }), rules), { kind: "take-over", expires_at: null });
});
