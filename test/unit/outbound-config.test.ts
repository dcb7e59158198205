// [report] and [hooks] in the config: what is taken, what is refused, and in which words.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config.js";
import { crowdsecSchema } from "../../src/crowdsec/config.js";
import { isLoopbackHost } from "../../src/net/outbound-url.js";

const load = (raw: Record<string, unknown>) => validateConfig(raw, "test.toml", {});

test("[report]: defaults; http:// only to loopback; unknown keys named with the section's own", () => {
  const c = load({ report: { key_file: "/etc/iblock/abuseipdb-key" } });
  assert.deepEqual(c.report, { key_file: "/etc/iblock/abuseipdb-key", url: "https://api.abuseipdb.com/api/v2/report", daily_budget: 1000 });
  assert.equal(load({ report: { key_file: "/k", url: "http://127.0.0.1:8080/r" } }).report?.url, "http://127.0.0.1:8080/r");
  assert.throws(() => load({ report: { key_file: "/k", url: "http://api.abuseipdb.com/api/v2/report" } }), /key "report.url".*https:\/\/ URL \(http:\/\/ only to loopback\)/);
  assert.throws(() => load({ report: { key_file: "/k", daily_budget: 0 } }), /key "report.daily_budget"/);
  assert.throws(() => load({ report: { key: "x" } }), /unknown key "key" in \[report\] \(known keys: key_file, url, daily_budget\)/);
});

test("[hooks]: a list is a program (absolute), a string a webhook URL that needs secret_file", () => {
  const c = load({ hooks: { on_ban: ["/usr/local/bin/on-ban", "-v"], on_unban: "https://hooks.example.org/x", secret_file: "/etc/iblock/hook-secret" } });
  assert.deepEqual(c.hooks?.on_ban, ["/usr/local/bin/on-ban", "-v"]);
  assert.throws(() => load({ hooks: { on_ban: ["on-ban"] } }), /key "hooks.on_ban"/);
  assert.throws(() => load({ hooks: { on_ban: "https://hooks.example.org/x" } }), /a webhook URL needs secret_file/);
  assert.throws(() => load({ hooks: { on_ban: ["/bin/true"], secret_file: "/s" } }), /secret_file is only for webhook URLs/);
  assert.throws(() => load({ hooks: { on_ban: "http://192.0.2.1/x", secret_file: "/s" } }), /key "hooks.on_ban"/);
});

test("[crowdsec] url: https, or http only to loopback: the machine's password goes with the login", () => {
  const ok = (url: string): boolean => crowdsecSchema.safeParse({ url, login: "iblock", password_file: "/etc/iblock/crowdsec.pw" }).success;
  assert.equal(ok("http://127.0.0.1:8080"), true);
  assert.equal(ok("https://lapi.example:8080"), true);
  assert.equal(ok("http://192.0.2.5:8080"), false);
  assert.equal(ok("http://127.evil.example:8080"), false);
  assert.equal(ok("https://user:pw@lapi.example"), false);
});

test("loopback is an address of 127.0.0.0/8, [::1] or localhost, never a name that starts like one", () => {
  assert.equal(isLoopbackHost("127.0.0.1"), true);
  assert.equal(isLoopbackHost("127.1.2.3"), true);
  assert.equal(isLoopbackHost("[::1]"), true);
  assert.equal(isLoopbackHost("127.evil.example"), false);
  assert.equal(isLoopbackHost("127.0.0.1.nip.io"), false);
});
