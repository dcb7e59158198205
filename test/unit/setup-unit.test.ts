import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { systemdService } from "../../src/setup/services.js";

const refused = (key: RegExp) => (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && key.test(e.message);

test("setup systemd: a configured path that would add, join or split unit lines is refused, naming its key", () => {
  const attacks = ["/tmp/x\nExecStartPre=/tmp/evil", "/tmp/x\\", "/tmp/a b", "/tmp/x\r", "/tmp/\"x\"", "/tmp/'x'", "/tmp/x\tz", "/tmp/x\u2028y", "/tmp/x\0"];
  for (const path of attacks) {
    assert.throws(() => systemdService(validateConfig({ state_dir: path }, "t")), refused(/^key "state_dir": /), JSON.stringify(path));
    const cluster = { redis: "redis://192.0.2.5:6379", name: "web", secret_file: path };
    assert.throws(() => systemdService(validateConfig({ cluster }, "t")), refused(/^\[cluster\] secret_file: /), JSON.stringify(path));
    assert.throws(() => systemdService(validateConfig({ http: { read_token_file: path } }, "t")), refused(/^\[http\] read_token_file: /), JSON.stringify(path));
    assert.throws(() => systemdService(validateConfig({}, `/etc/${path}.toml`)), refused(/^the config file: /), JSON.stringify(path));
  }
});

test("setup systemd: % is escaped in every path of the unit, $ in ExecStart", () => {
  const c = validateConfig({ state_dir: "/srv/%h/iblock", http: { token_file: "/etc/%i/token" } }, "/etc/iblock/$HOME%n.toml");
  const unit = systemdService(c);
  assert.match(unit, /^ReadWritePaths=\/srv\/%%h\/iblock$/m);
  assert.match(unit, /^LoadCredential=iblock-http-token:\/etc\/%%i\/token$/m);
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/iblock run -c \/etc\/iblock\/\$\$HOME%%n\.toml$/m);
  assert.match(systemdService(validateConfig({ state_dir: "/var/lib/ib%n" }, "t")), /^StateDirectory=ib%%n$/m);
  // Nothing but our own lines: each line a comment, a section or a known key.
  for (const line of systemdService(validateConfig({}, "/etc/iblock/iblock.toml")).split("\n")) assert.match(line, /^(|#.*|\[\w+\]|\w+=.*)$/);
});
