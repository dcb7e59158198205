import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { DEFAULT_CONFIG_FILE } from "../../src/config.js";
import { inetdConf, rcScript, systemdService, systemdSocket } from "../../src/setup/services.js";

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
  const unit = systemdService(c, "/usr/local/bin/iblock");
  assert.match(unit, /^ReadWritePaths=\/srv\/%%h\/iblock$/m);
  assert.match(unit, /^LoadCredential=iblock-http-token:\/etc\/%%i\/token$/m);
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/iblock run -c \/etc\/iblock\/\$\$HOME%%n\.toml$/m);
  assert.match(systemdService(validateConfig({ state_dir: "/var/lib/ib%n" }, "t")), /^StateDirectory=ib%%n$/m);
  // Nothing but our own lines: each line a comment, a section or a known key.
  for (const line of systemdService(validateConfig({}, "/etc/iblock/iblock.toml")).split("\n")) assert.match(line, /^(|#.*|\[\w+\]|\w+=.*)$/);
});

test("setup systemd, rc: the program is the iblock running, refused when its path would change the unit's words or the rc script's shell", () => {
  const c = validateConfig({}, "/etc/iblock.toml");
  assert.match(systemdService(c), new RegExp(`^ExecStart=${process.argv[1]} run$`, "m"));
  assert.match(rcScript(c), new RegExp(`^daemon="${process.argv[1]}"$`, "m"));
  assert.match(systemdService(c, "/opt/ib$x/iblock"), /^ExecStart=\/opt\/ib\$\$x\/iblock run/m);
  assert.throws(() => systemdService(c, "/opt/a b/iblock"), refused(/^the program: /));
  for (const bin of ["/opt/$(reboot)/iblock", "/opt/`id`/iblock", '/opt/x"; reboot; "/iblock', "/opt/a b/iblock"]) {
    assert.throws(() => rcScript(c, bin), refused(/^the program: /), bin);
  }
});

test("setup systemd, rc, inetd: one rule for -c: the config file they were made from, none for the default file or defaults", () => {
  const named = validateConfig({ firewall: "pf", table: "blocked_tcp", listen_port: 666 }, "/srv/iblock/test.toml");
  assert.match(systemdService(named, "/usr/bin/iblock", {}), /^ExecStart=\/usr\/bin\/iblock run -c \/srv\/iblock\/test\.toml$/m);
  assert.match(rcScript(named, "/usr/bin/iblock", {}), /^daemon_flags="-c \/srv\/iblock\/test\.toml -t blocked_tcp -p 666"$/m);
  assert.match(inetdConf(named, "/usr/bin/iblock"), /^666 stream tcp nowait _iblock \/usr\/bin\/iblock iblock -c \/srv\/iblock\/test\.toml blocked_tcp$/m);
  // A relative path is made absolute: the service does not start where the CLI ran.
  assert.match(rcScript(validateConfig({}, "iblock.toml"), "/usr/bin/iblock", {}), new RegExp(`^daemon_flags="-c ${process.cwd()}/iblock\\.toml -t `, "m"));
  for (const source of [DEFAULT_CONFIG_FILE, "/etc/./iblock.toml", "defaults"]) {
    const c = validateConfig({}, source);
    assert.match(systemdService(c, "/usr/bin/iblock", {}), /^ExecStart=\/usr\/bin\/iblock run$/m, source);
    assert.match(rcScript(c, "/usr/bin/iblock", {}), /^daemon_flags="-t iblocked -p 2507"$/m, source);
    assert.doesNotMatch(inetdConf(c, "/usr/bin/iblock"), / -c /, source);
  }
  // The rc.d script's shell reads the path: refused as the program's is.
  assert.throws(() => rcScript(validateConfig({}, "/etc/$(reboot).toml"), "/usr/bin/iblock", {}), refused(/^the config file: /));
});

test("setup rc: IBLOCK_STATE_DIR, which rc.d cannot hand to the daemon, is refused (78) saying to put state_dir in the config", () => {
  const env = { IBLOCK_STATE_DIR: "/srv/iblock" };
  const c = validateConfig({ state_dir: env.IBLOCK_STATE_DIR }, "/etc/iblock.toml");
  assert.throws(() => rcScript(c, "/usr/bin/iblock", env), refused(/^IBLOCK_STATE_DIR is set.*put state_dir = "\/srv\/iblock" in the config file/));
  assert.doesNotThrow(() => rcScript(c, "/usr/bin/iblock", {}));
});

test("setup systemd: IBLOCK_STATE_DIR given to the CLI is given to the service as well", () => {
  const env = { IBLOCK_STATE_DIR: "/srv/ib%n" };
  const c = validateConfig({ state_dir: env.IBLOCK_STATE_DIR }, "/etc/iblock.toml");
  const unit = systemdService(c, "/usr/bin/iblock", env);
  assert.match(unit, /^Environment=IBLOCK_STATE_DIR=\/srv\/ib%%n$/m);
  assert.match(unit, /^ReadWritePaths=\/srv\/ib%%n$/m);
  assert.doesNotMatch(systemdService(c, "/usr/bin/iblock", {}), /^Environment=/m);
});

test("setup systemd-socket: listen_port with listen = redirect (trap ports stay free for the kernel route), every trap port with direct", () => {
  const redirect = systemdSocket(validateConfig({ trap_ports: [23, 445] }, "t"));
  assert.deepEqual(redirect.match(/^ListenStream=.*$/gm), ["ListenStream=2507"]);
  assert.match(redirect, /^BindIPv6Only=both$/m);
  const direct = systemdSocket(validateConfig({ listen: "direct", trap_ports: [23, 445], listen_addresses: ["192.0.2.1", "2001:db8::1"] }, "t"));
  assert.deepEqual(direct.match(/^ListenStream=.*$/gm), [
    "ListenStream=192.0.2.1:23",
    "ListenStream=[2001:db8::1]:23",
    "ListenStream=192.0.2.1:445",
    "ListenStream=[2001:db8::1]:445",
  ]);
  assert.match(direct, /^BindIPv6Only=ipv6-only$/m);
  assert.match(systemdService(validateConfig({}, "t"), "/usr/bin/iblock"), /^Requires=iblock\.socket$/m);
});
