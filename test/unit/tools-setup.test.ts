import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { sshguardChange } from "../../src/commands/sshguard-backend.js";
import { FAIL2BAN_ACTION, fail2banAction } from "../../src/setup/fail2ban.js";
import { sshguardBackend } from "../../src/setup/sshguard.js";

test("setup fail2ban: the shipped action, naming this config's control socket", () => {
  const shipped = readFileSync(FAIL2BAN_ACTION, "utf8");
  assert.equal(fail2banAction(validateConfig({ state_dir: "/var/lib/iblock" }, "t")), shipped);
  const other = fail2banAction(validateConfig({ state_dir: '/srv/ib"lock' }, "t"));
  assert.match(other, /^SOCKET = "\/srv\/ib\\"lock\/control.sock"$/m, "a Python string literal whatever the path");
  assert.equal(other.split("\n").length, shipped.split("\n").length);
});

test("setup sshguard: one executable path for BACKEND, running sshguard-backend with this config; a path the shell would read is refused", () => {
  const c = validateConfig({}, "/etc/iblock/web.toml");
  assert.match(sshguardBackend(c, "/usr/local/bin/iblock", {}), /^exec \/usr\/local\/bin\/iblock -c \/etc\/iblock\/web.toml sshguard-backend$/m);
  assert.match(sshguardBackend(validateConfig({ state_dir: "/srv/ib" }, "t"), "/usr/bin/iblock", { IBLOCK_STATE_DIR: "/srv/ib" }), /^export IBLOCK_STATE_DIR=\/srv\/ib\nexec /m);
  const refused = (e: unknown): boolean => e instanceof IblockError && e.exitCode === EX_CONFIG;
  assert.throws(() => sshguardBackend(validateConfig({}, "/etc/x;reboot.toml"), "/usr/bin/iblock", {}), refused);
  assert.throws(() => sshguardBackend(c, "/opt/$(reboot)/iblock", {}), refused);
});

test("sshguard's lines: block and release as its backends read them; anything else is no change", () => {
  assert.deepEqual(sshguardChange("block 192.0.2.7 4 32", "permanent"), { op: "ban", address: "192.0.2.7", reason: "sshguard", time: "permanent" });
  assert.deepEqual(sshguardChange("block 2001:db8::7 6 64", "24h"), { op: "ban", address: "2001:db8::7/64", reason: "sshguard", time: "24h" });
  assert.deepEqual(sshguardChange("release 192.0.2.0 4 24", "24h"), { op: "unban", address: "192.0.2.0/24" });
  assert.deepEqual(sshguardChange("flush", "24h"), { op: "flush" });
  assert.equal(sshguardChange("flushonexit", "24h"), undefined);
  for (const bad of ["", "block", "block 192.0.2.7 4", "block 192.0.2.7 4 32 more", "block 192.0.2.7 4 x", "flush now", "unblock 192.0.2.7 4 32", `block ${"1".repeat(50)} 4 32`]) {
    assert.equal(sshguardChange(bad, "24h"), "unknown", JSON.stringify(bad));
  }
});
