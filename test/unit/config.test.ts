import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_CONFIG_FILE, expandPorts, loadConfig, validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "iblock-config-"));
function file(text: string): string {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(f, text);
  return f;
}

function refused(text: string, ...needles: string[]): void {
  assert.throws(
    () => loadConfig({ file: file(text), env: {} }),
    (e: unknown) => {
      assert.ok(e instanceof IblockError, String(e));
      assert.equal(e.exitCode, EX_CONFIG);
      for (const n of needles) assert.ok(e.message.includes(n), `${JSON.stringify(e.message)} lacks ${JSON.stringify(n)}`);
      return true;
    },
  );
}

test("defaults: the original's trap ports, nftables on Linux, no listener on a trap port (direct on PF)", () => {
  const c = loadConfig({ file: file(""), env: {} });
  assert.equal(c.table, "iblocked");
  assert.equal(c.listen, "redirect");
  assert.equal(loadConfig({ file: file('firewall = "pf"\n'), env: {} }).listen, "direct");
  assert.equal(c.listen_port, 2507);
  assert.equal(c.firewall, "nftables");
  assert.equal(c.trap_ports.length, 27);
  assert.deepEqual(c.trap_ports.slice(0, 8), [21, 23, 111, 135, 137, 138, 139, 445]);
  assert.ok(c.trap_ports.includes(6010) && c.trap_ports.includes(27019));
  assert.equal(c.state_dir, "/var/lib/iblock");
  assert.equal(c.control_socket, "/var/lib/iblock/control.sock");
  assert.equal(c.kernel_route, true);
});

test("an absent default file means all defaults", { skip: existsSync(DEFAULT_CONFIG_FILE) && `${DEFAULT_CONFIG_FILE} exists here` }, () => {
  assert.equal(loadConfig({ env: {} }).source, "defaults");
});

test("a named config file that does not exist is refused", () => {
  assert.throws(
    () => loadConfig({ file: join(dir, "nope.toml"), env: {} }),
    (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && e.message.includes("nope.toml"),
  );
});

test("IBLOCK_CONFIG and IBLOCK_STATE_DIR override", () => {
  const f = file('table = "fromenv"\nstate_dir = "/nowhere"\n');
  const c = loadConfig({ env: { IBLOCK_CONFIG: f, IBLOCK_STATE_DIR: "/tmp/x" } });
  assert.equal(c.table, "fromenv");
  assert.equal(c.state_dir, "/tmp/x");
  assert.equal(c.database, "/tmp/x/iblock.sqlite");
});

test("config errors name the key, the value and what is expected", () => {
  refused("bogus = 1\n", 'unknown key "bogus"', "known keys");
  refused("trap_ports = [70000]\n", '"trap_ports.0"', "70000");
  refused('trap_ports = ["30-20"]\n', "trap_ports", "30-20");
  refused('trap_ports = ["http"]\n', "trap_ports.0", "http", "range");
  refused("trap_ports = []\n", "trap_ports");
  refused('firewall = "iptables"\n', '"firewall"', "iptables", "nftables");
  refused('table = "bad name; rm"\n', '"table"', "letters");
  refused(`table = "${"x".repeat(32)}"\n`, '"table"');
  refused('listen = "sideways"\n', '"listen"', "direct");
  refused("listen_port = 0\n", '"listen_port"');
  refused('listen = "redirect"\nlisten_port = 23\n', "listen_port", "trap port");
  refused('listen_addresses = ["localhost"]\n', "listen_addresses.0", "IP address");
  refused('allow = ["203.0.113.5/24"]\n', "allow.0", "203.0.113.5/24");
  refused('allow = ["example.org"]\n', "allow.0");
  refused('syslog = "yes"\n', '"syslog"');
  refused("ipv6_prefix = 16\n", '"ipv6_prefix"');
  refused("this is not toml\n", "not valid TOML");
});

test("a relative state_dir is refused: the daemon's working directory is not the admin's", () => {
  refused('state_dir = "state"\n', '"state_dir"', '"state"', "absolute path");
  refused('state_dir = "./var/iblock"\n', '"state_dir"', "absolute path");
  assert.throws(() => loadConfig({ file: file(""), env: { IBLOCK_STATE_DIR: "here" } }), /IBLOCK_STATE_DIR: "here" is a relative path/);
  assert.equal(loadConfig({ file: file('state_dir = "/srv/iblock"\n'), env: {} }).state_dir, "/srv/iblock");
});

test('ban_time = "permanent" with a finite ban_time_max is refused; with the default cap or a permanent one it is taken', () => {
  refused('ban_time = "permanent"\nban_time_max = "30d"\n', '"ban_time_max"', "30d", "permanent");
  assert.equal(loadConfig({ file: file('ban_time = "permanent"\n'), env: {} }).ban_time, Infinity);
  assert.equal(loadConfig({ file: file('ban_time = "permanent"\nban_time_max = "permanent"\n'), env: {} }).ban_time_max, Infinity);
});

test("validateConfig expands ranges and sorts", () => {
  const c = validateConfig({ trap_ports: [23, "21-22", 23] }, "test");
  assert.deepEqual(c.trap_ports, [21, 22, 23]);
});

test("expandPorts", () => {
  assert.deepEqual(expandPorts(["137-139", 21]), [21, 137, 138, 139]);
  assert.throws(() => expandPorts(["5-70000"]));
});

test("contrib/iblock.toml documents real keys with valid defaults", () => {
  const text = readFileSync(new URL("../../contrib/iblock.toml", import.meta.url), "utf8");
  // Uncomment "# key = value" lines (not the prose), as a user would.
  const uncommented = text
    .split("\n")
    .filter((l) => /^# ([a-z_0-9]+ = |\[[a-z_]+\]$)/.test(l)) // keys, and sections ([http], last in the file)
    .map((l) => l.slice(2).replace(/\s+#.*$/, ""))
    .filter((l) => !/^(allow|command_prefix|listen_addresses|syslog_socket|aggregate_ipv4|aggregate_ipv6|group|tls_cert|tls_key|token_file|read_token_file|cluster|crowdsec) /.test(l)) // examples, not defaults
    // [report] and [hooks] (after [http]): examples, each with a key it must have.
    .filter((l) => !/^(\[report\]|\[hooks\]|key_file|url|daily_budget|on_ban|on_unban|secret_file)( |$)/.test(l))
    .join("\n");
  const c = loadConfig({ file: file(uncommented), env: {} });
  const defaults = loadConfig({ file: file(""), env: {} });
  assert.deepEqual({ ...c, source: "" }, { ...defaults, source: "" });
});
