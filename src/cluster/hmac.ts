import { createHash, createHmac, hash } from "node:crypto";

// SHA-256's block: the key is padded (or first hashed) to this many bytes.
const BLOCK = 64;
const BASE64_DIGEST = 44;

/**
 * HMAC-SHA256 (RFC 2104) under one key, as hex, exactly what createHmac
 * gives. createHmac builds a keyed object for every message, and at a
 * million snapshot entries that setup cost more than the hashing (2.0-2.7 us
 * against 1.0-1.1 us an entry): here the padded key blocks are made once and
 * each HMAC is two of crypto.hash's one-shot hashes. The inner one takes the
 * padded key as a string before the text, which is the key's bytes only when
 * they are ASCII (a hex key, as docs/fleet.md says to make one, or base64); another
 * key, or a Node without crypto.hash (before 20.12), uses createHmac.
 */
export class HmacSha256 {
  /** The key XOR 0x36, as a string; undefined where createHmac is used. */
  private readonly innerPad: string | undefined;
  /** The key XOR 0x5c, then room for the inner digest. */
  private readonly outer = Buffer.alloc(BLOCK + 32);

  constructor(private readonly key: Buffer) {
    const k = key.length > BLOCK ? createHash("sha256").update(key).digest() : key;
    const inner = Buffer.alloc(BLOCK, 0x36);
    this.outer.fill(0x5c, 0, BLOCK);
    for (let i = 0; i < k.length; i++) {
      inner[i] = (inner[i] as number) ^ (k[i] as number);
      this.outer[i] = (this.outer[i] as number) ^ (k[i] as number);
    }
    const ascii = inner.every((b) => b < 0x80);
    this.innerPad = ascii && typeof hash === "function" ? inner.toString("latin1") : undefined;
  }

  /** Whether the one-shot hashes are used (not createHmac). */
  get oneShot(): boolean {
    return this.innerPad !== undefined;
  }

  hex(text: string): string {
    if (this.innerPad === undefined) return createHmac("sha256", this.key).update(text).digest("hex");
    // base64 and back: the cheapest way found to put a digest into a Buffer.
    const digest = hash("sha256", this.innerPad + text, "base64");
    this.outer.write(digest, BLOCK, BASE64_DIGEST, "base64");
    return hash("sha256", this.outer, "hex");
  }
}

const keyed = new WeakMap<Buffer, HmacSha256>();

/** The HMAC-SHA256 of `text` under `key`, in hex; the key's blocks kept while the key is. */
export function hmacHex(key: Buffer, text: string): string {
  let h = keyed.get(key);
  if (!h) keyed.set(key, (h = new HmacSha256(key)));
  return h.hex(text);
}
