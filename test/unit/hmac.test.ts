import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import { HmacSha256, hmacHex } from "../../src/cluster/hmac.js";

const TEXTS = ["", "x", JSON.stringify(["test", "a", "ban", "192.0.2.1/32", "", "trap", "23", "1700000000000"]), "é€😀 \u0000 ünïcödé", "y".repeat(10_000)];

void test("the HMAC is createHmac's for ASCII keys of any length, through the one-shot hashes where the padded key is ASCII", () => {
  const keys: [Buffer, boolean][] = [
    [Buffer.from(randomBytes(32).toString("hex")), true], // 64 bytes: a block exactly
    [Buffer.from("0123456789abcdef0123456789abcdef"), true],
    [Buffer.from(randomBytes(24).toString("base64")), true],
    [Buffer.from("6"), true], // 0x36: a NUL in the padded key
    [Buffer.from(randomBytes(50).toString("hex")), false], // 100 bytes: hashed first, so binary
    [randomBytes(32), false],
  ];
  for (const [key, oneShot] of keys) {
    const h = new HmacSha256(key);
    assert.equal(h.oneShot, oneShot, `one-shot for ${key.toString("hex")}`);
    for (const text of TEXTS) {
      const want = createHmac("sha256", key).update(text).digest("hex");
      assert.equal(h.hex(text), want, `key ${key.toString("hex")}, text of ${text.length}`);
      assert.equal(hmacHex(key, text), want);
    }
  }
});
