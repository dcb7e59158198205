import { createHmac, timingSafeEqual } from "node:crypto";
import { printable } from "../printable.js";
import { parsePrefix, type Prefix } from "../net/address.js";

/**
 * One ban or unban as it travels between hosts. Every field is text, in the
 * stream and in the snapshot alike, and the HMAC covers all of them (and the
 * fleet's name) in this order, so a message cannot be altered or replayed
 * into another fleet without the secret.
 */
export interface Message {
  origin: string;
  kind: "ban" | "unban";
  /** Network "/" length, as our parser prints it. */
  prefix: string;
  /** ms since the epoch; "" permanent (and for unbans). */
  expires: string;
  reason: string;
  /** Trap port, or "". */
  port: string;
  /** ms since the epoch when the origin made it. */
  at: string;
  /**
   * The origin's sequence: grows with every message it signs, so a host
   * refuses one it has passed (a copy put back into the stream). About
   * `at` x 1000 (seq.ts): a holder of the secret cannot claim one further
   * ahead than the clock skew allows and so silence an origin.
   */
  seq: string;
}

export type Signed = Message & { hmac: string };

export const FIELDS = ["origin", "kind", "prefix", "expires", "reason", "port", "at", "seq"] as const;

// Generous for what a host writes; anything longer is not from one of ours.
const MAX_FIELD = 512;
const MAX_REASON = 256;

export function sign(secret: Buffer, fleet: string, m: Message): Signed {
  return { ...m, hmac: mac(secret, macText(fleet, m)) };
}

/** HMAC-SHA256 of `text`, in hex. */
function mac(secret: Buffer, text: string): string {
  return createHmac("sha256", secret).update(text).digest("hex");
}

/** JSON of an array, in FIELDS' order: no two different messages give the same text. */
function macText(fleet: string, m: Message): string {
  return JSON.stringify([fleet, m.origin, m.kind, m.prefix, m.expires, m.reason, m.port, m.at, m.seq]);
}

/**
 * A ban as the snapshot holds it: the HMAC's hex, then the very text the HMAC
 * covers. A host catching up hashes that text as it stands and parses it
 * once: no JSON of an object to read and no text to rebuild, a million times.
 */
export function snapshotDetail(fleet: string, m: Signed): string {
  return m.hmac + macText(fleet, m);
}

const KNOWN: ReadonlySet<string> = new Set(FIELDS);
const HMAC_HEX = /^[0-9a-f]{64}$/;

/**
 * `hmac` is the HMAC of `text`: our own lower-case hex (as sign() writes it),
 * compared in constant time. Compared as hex text: a digest as a Buffer is
 * made in native code, and cost about 1.5 us more an entry than the hex and
 * two small Buffers, a million times in a catch-up.
 */
function sameMac(secret: Buffer, text: string, hmac: string): boolean {
  if (!HMAC_HEX.test(hmac)) return false;
  return timingSafeEqual(Buffer.from(hmac), Buffer.from(mac(secret, text)));
}

/** A message that passed every check: what the applier acts on. */
export interface Verified {
  origin: string;
  kind: "ban" | "unban";
  prefix: Prefix;
  /** null: permanent. */
  expiresAt: number | null;
  reason: string;
  port: number | undefined;
  at: number;
  seq: number;
}

export type Checked = { ok: true; message: Verified } | { ok: false; why: string };

const refuse = (why: string): Checked => ({ ok: false, why });
const msDigits = /^\d{1,15}$/;
// A sequence is about ms x 1000 (seq.ts): exact as a number until the year 2255.
const seqDigits = /^\d{1,16}$/;

/** Shown in a log line: short (the log line escapes it). */
export function quote(v: unknown): string {
  const s = typeof v === "string" ? v : String(v);
  const shown = s.length > 60 ? `${s.slice(0, 60)}... (${s.length} chars)` : s;
  // The log line writes out what could act on a terminal (printable()); the rest is shown as it came.
  return JSON.stringify(shown);
}

/**
 * Check a message from the stream or the snapshot: sizes first (a 10 MB
 * field is never hashed), then the HMAC (compared in constant time), then
 * each field by our own parsers. Says why when it refuses.
 */
export function verify(secret: Buffer, fleet: string, raw: Record<string, string>): Checked {
  // A fleet's snapshot is a million of these: one list of keys, no copies.
  const keys = Object.keys(raw);
  for (const k of keys) {
    const v = raw[k] as string;
    if (v.length > MAX_FIELD) return refuse(`field ${quote(k)} is ${v.length} bytes (at most ${MAX_FIELD})`);
  }
  for (const k of keys) {
    if (k !== "hmac" && !KNOWN.has(k)) return refuse(`unexpected field ${quote(k)}`);
  }
  const hmac = raw.hmac;
  if (hmac === undefined) return refuse("no hmac field");
  for (const f of FIELDS) if (raw[f] === undefined) return refuse(`no ${f} field`);
  const m = raw as unknown as Message;
  if (!sameMac(secret, macText(fleet, m), hmac)) return refuse(`wrong hmac (origin ${quote(m.origin)}, prefix ${quote(m.prefix)})`);
  return checkFields(m);
}

// The longest a snapshot entry of ours can be: the HMAC and nine fields.
const MAX_DETAIL = 8_192;

/** Names a snapshot entry that failed its HMAC, as far as it can be read. */
function described(text: string): string {
  try {
    const a: unknown = JSON.parse(text);
    if (Array.isArray(a)) return `origin ${quote(a[1])}, prefix ${quote(a[3])}`;
  } catch {
    // Not JSON: shown as it is.
  }
  return quote(text);
}

/** Check a snapshot entry (see snapshotDetail), as verify() checks a message. */
export function verifyDetail(secret: Buffer, fleet: string, detail: string): Checked {
  if (detail.length > MAX_DETAIL) return refuse(`${detail.length} characters (at most ${MAX_DETAIL})`);
  const hmac = detail.slice(0, 64);
  const text = detail.slice(64);
  if (!HMAC_HEX.test(hmac)) return refuse(`not an HMAC and a message: ${quote(detail)}`);
  if (!sameMac(secret, text, hmac)) return refuse(`wrong hmac (${described(text)})`);
  // Signed by a host with the secret, so a bug there, not an attacker: still checked.
  let a: unknown;
  try {
    a = JSON.parse(text);
  } catch {
    return refuse(`not JSON after the hmac: ${quote(text)}`);
  }
  if (!Array.isArray(a) || a.length !== FIELDS.length + 1 || !a.every((v) => typeof v === "string")) return refuse(`not the fleet and ${FIELDS.length} fields: ${quote(text)}`);
  // Another fleet with the same secret signs its own name: not ours to apply.
  if (a[0] !== fleet) return refuse(`from fleet ${quote(a[0])}, not ${quote(fleet)}`);
  for (let i = 1; i < a.length; i++) {
    const v = a[i] as string;
    if (v.length > MAX_FIELD) return refuse(`field ${quote(FIELDS[i - 1])} is ${v.length} bytes (at most ${MAX_FIELD})`);
  }
  const [, origin, kind, prefix, expires, reason, port, at, seq] = a as [string, string, Message["kind"], string, string, string, string, string, string];
  return checkFields({ origin, kind, prefix, expires, reason, port, at, seq });
}

/** The fields of a message whose HMAC held, each checked by our own parsers. */
function checkFields(m: Message): Checked {
  // Signed by a host with the secret: still checked, a bug there must not become a ban here.
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(m.origin)) return refuse(`origin ${quote(m.origin)} is not a node name`);
  if (m.kind !== "ban" && m.kind !== "unban") return refuse(`kind ${quote(m.kind)} is not "ban" or "unban"`);
  let prefix: Prefix;
  try {
    prefix = parsePrefix(m.prefix);
  } catch (e) {
    return refuse(`prefix ${quote(m.prefix)}: ${(e as Error).message}`);
  }
  if (m.expires !== "" && !msDigits.test(m.expires)) return refuse(`expires ${quote(m.expires)} is not a time in ms`);
  if (!msDigits.test(m.at)) return refuse(`at ${quote(m.at)} is not a time in ms`);
  if (!seqDigits.test(m.seq)) return refuse(`seq ${quote(m.seq)} is not a sequence number`);
  const port = m.port === "" ? undefined : Number(m.port);
  if (port !== undefined && !(/^\d{1,5}$/.test(m.port) && port >= 1 && port <= 65535)) return refuse(`port ${quote(m.port)} is not 1-65535`);
  if (m.reason.length > MAX_REASON) return refuse(`reason is ${m.reason.length} chars (at most ${MAX_REASON})`);
  return {
    ok: true,
    message: {
      origin: m.origin,
      kind: m.kind,
      prefix,
      expiresAt: m.expires === "" ? null : Number(m.expires),
      // Kept, shown in terminals, logs and the dashboard: nothing that moves a cursor or reorders a line.
      reason: printable(m.reason),
      port,
      at: Number(m.at),
      seq: Number(m.seq),
    },
  };
}

/** XREAD gives [k1, v1, k2, v2 ...]; a key given twice is garbage. */
export function fieldsOf(flat: readonly string[]): Record<string, string> | string {
  if (flat.length % 2 !== 0) return "an odd number of field items";
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i] as string;
    if (k in out) return `field ${quote(k)} given twice`;
    out[k] = flat[i + 1] as string;
  }
  return out;
}
