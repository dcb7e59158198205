import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_CONFIG_FILE, validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";
import { inetdConf } from "../../src/setup/services.js";

const serviceLines = (conf: string): string[] => conf.split("\n").filter((l) => /^\d/.test(l));

test("setup inetd: the config file it was made from is on every line (-c), the running program runs it", () => {
  const conf = inetdConf(validateConfig({ kernel_route: false }, "/srv/iblock/test.toml"), "/usr/bin/iblock");
  assert.deepEqual(serviceLines(conf), [
    "2507 stream tcp nowait root /usr/bin/iblock iblock -c /srv/iblock/test.toml iblocked",
    "2507 stream tcp6 nowait root /usr/bin/iblock iblock -c /srv/iblock/test.toml iblocked",
  ]);
  // How the trap ports get there, with the same config.
  assert.match(conf, /^# .*iblock -c \/srv\/iblock\/test\.toml setup nftables \| nft -f -/m);
  // The default file and no file at all need no -c.
  for (const source of [DEFAULT_CONFIG_FILE, "defaults"]) {
    for (const line of serviceLines(inetdConf(validateConfig({}, source), "/usr/bin/iblock"))) assert.match(line, / iblock iblocked$/);
  }
  // Without a path given, the iblock that prints the lines.
  assert.match(inetdConf(validateConfig({}, "defaults")), new RegExp(`nowait root ${process.argv[1]} iblock`));
});

test("setup inetd: root on nftables (inetd gives no capability), _iblock with doas on PF", () => {
  const nft = inetdConf(validateConfig({ firewall: "nftables" }, "defaults"), "/usr/bin/iblock");
  for (const line of serviceLines(nft)) assert.match(line, /^2507 stream tcp6? nowait root /);
  // The kernel route answers trap ports itself: inetd would never see a hit.
  assert.match(nft, /^# kernel_route = true: .*set kernel_route = false$/m);
  const pf = inetdConf(validateConfig({ firewall: "pf" }, "defaults"), "/usr/local/bin/iblock");
  for (const line of serviceLines(pf)) assert.match(line, /^2507 stream tcp6? nowait _iblock /);
});

test("setup inetd: a path that would split a word or add a line is refused, naming what it is", () => {
  const refused = (what: RegExp) => (e: unknown) => e instanceof IblockError && e.exitCode === EX_CONFIG && what.test(e.message);
  for (const path of ["/etc/a b.toml", "/etc/x.toml\n666 stream tcp nowait root /bin/sh sh", "/etc/x\t.toml", "/etc/x\u2028.toml"]) {
    assert.throws(() => inetdConf(validateConfig({}, path), "/usr/bin/iblock"), refused(/^the config file: /), JSON.stringify(path));
    assert.throws(() => inetdConf(validateConfig({}, "defaults"), path), refused(/^the program: /), JSON.stringify(path));
  }
});
