// The outbound parts read their secrets at start, and a bad file stops the
// start (exit 78) with the key and the file named: one others may read, a
// hook secret too short to be a key, a file that holds no API key.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BanChanges } from "../../src/bans/changes.js";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { Logger } from "../../src/log.js";
import { Outbound } from "../../src/outbound.js";
import { secretFileFindings } from "../../src/setup/doctor-secrets.js";
import { Store } from "../../src/store/store.js";

async function secret(t: { after: (fn: () => Promise<void>) => void }, content: string, mode: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "iblock-outbound-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "secret");
  await writeFile(file, content, { mode });
  return file;
}

function start(raw: Record<string, unknown>): () => Outbound {
  const config = validateConfig(raw, "test.toml", {});
  return () => new Outbound(config, new Store(":memory:"), new BanChanges(), new Logger(() => undefined));
}

const refused = (make: () => unknown, words: RegExp): void =>
  assert.throws(make, (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && words.test(e.message));

test("a [report] key file others may read, or one holding no key, stops the start", async (t) => {
  refused(start({ report: { key_file: await secret(t, "k3y\n", 0o644) } }), /\[report\] key_file.*mode 0644/);
  refused(start({ report: { key_file: await secret(t, "two words\n", 0o600) } }), /does not hold an API key/);
  assert.ok(start({ report: { key_file: await secret(t, "k3y\n", 0o600) } })().reporter);
});

test("a [hooks] secret shorter than 16 bytes, or one others may read, stops the start", async (t) => {
  const hooks = (file: string) => ({ hooks: { on_ban: "http://127.0.0.1:9/x", secret_file: file } });
  refused(start(hooks(await secret(t, "short\n", 0o600))), /holds 5 bytes/);
  refused(start(hooks(await secret(t, "0123456789abcdef0123\n", 0o640))), /\[hooks\] secret_file.*mode 0640/);
  assert.ok(start(hooks(await secret(t, "0123456789abcdef0123\n", 0o600)))().hooks);
});

test("a [crowdsec] password file others may read stops the start", async (t) => {
  refused(start({ crowdsec: { login: "iblock", password_file: await secret(t, "pw\n", 0o644) } }), /\[crowdsec\] password_file.*mode 0644/);
  assert.ok(start({ crowdsec: { login: "iblock", password_file: await secret(t, "pw\n", 0o600) } })().crowdsec);
});

test("doctor reads these files as run does, a CrowdSec feed's key too", async (t) => {
  const config = validateConfig(
    {
      report: { key_file: await secret(t, "k3y\n", 0o644) },
      hooks: { on_ban: "http://127.0.0.1:9/x", secret_file: await secret(t, "0123456789abcdef0123\n", 0o600) },
      feed: [{ name: "cs", kind: "crowdsec", url: "http://127.0.0.1:8080", api_key_file: await secret(t, "two words", 0o600) }],
    },
    "test.toml",
    {},
  );
  const findings = secretFileFindings(config, {});
  assert.equal(findings.length, 3);
  assert.match(findings.find((f) => !f.ok && /\[report\] key_file/.test(f.what))?.what ?? "", /mode 0644.*"iblock run" would refuse to start/);
  assert.ok(findings.some((f) => f.ok && /\[hooks\] secret_file/.test(f.what)));
  assert.match(findings.find((f) => /feed\]\] cs/.test(f.what))?.what ?? "", /does not hold an API key.*every refresh of feed cs would fail/);
});
