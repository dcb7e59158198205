// How wide a person or a program may ban (issue 27, point 3), against the real
// daemon, nftables and store: wider than max_manual_v4/v6 is refused with the
// limit named unless forced, by the CLI and by the API; this host's own
// addresses, its gateway (a default route the test adds) and its resolver
// (the namespace's own resolv.conf, which `ip netns exec` mounts) never,
// forced or not, not even by widening a plain address; an import never wider
// than /8.
import assert from "node:assert/strict";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertTrapHit, waitListed } from "../support/checks.js";
import { createInstance, EX, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Bridge } from "../support/http-bridge.js";
import { ADDR, createTopology } from "../support/netns.js";
import { bannedElements, countV4Within } from "../support/nft.js";
import { run } from "../support/proc.js";

const TOKEN = "test-token-0123456789abcdef";
const HEADERS = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
const RESOLVER = "198.51.100.53";
const GATEWAY = ADDR.otherV4;

void test("manual and API bans: too wide refused unless forced; this host's address, gateway and resolver never", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  // `ip netns exec NAME` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf for the daemon and the CLI.
  const etc = join("/etc/netns", topo.host);
  await mkdir(etc, { recursive: true });
  t.after(() => rm(etc, { recursive: true, force: true }));
  await writeFile(join(etc, "resolv.conf"), `# this namespace's resolver\nnameserver ${RESOLVER}\n`);
  await run(["ip", "-n", topo.host, "route", "add", "default", "via", GATEWAY]);

  const inst = await createInstance(t, topo.host);
  const tokenFile = join(inst.dir, "token");
  await writeFile(tokenFile, TOKEN + "\n");
  await chmod(tokenFile, 0o600);
  // Without allow_self the host's own addresses are refused as such, not as allowed.
  await inst.writeConfig({ allow_self: false, http: { enabled: true, token_file: tokenFile } } as unknown as IblockConfig);
  const d = await inst.start();
  await d.waitForLine(/http: serving .* on http:\/\/127\.0\.0\.1:9107\//, 10_000);
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const post = (body: Record<string, unknown>) => http.request("/api/bans", { method: "POST", headers: HEADERS, body: JSON.stringify(body) });

  const refused = async (args: string[], words: RegExp): Promise<void> => {
    const r = await inst.cli("ban", args);
    assert.equal(r.code, EX.DATAERR, `iblock ban ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, words);
  };
  // The width first, with the truth: 0.0.0.0/0 is too wide, not "in the allow list (127.0.0.0/8)".
  await refused(["0.0.0.0/0"], /refusing to ban: 0\.0\.0\.0\/0 is wider than \/16 \(max_manual_v4\)/);
  await refused(["0.0.0.0/2"], /refusing to ban: 0\.0\.0\.0\/2 is wider than \/16 \(max_manual_v4\); give --force/);
  // An IPv4-mapped IPv6 prefix is held to what it covers: ::ffff:0.0.0.0/98 is 0.0.0.0/2.
  await refused(["::ffff:0.0.0.0/98"], /0\.0\.0\.0\/2 is wider than \/16 \(max_manual_v4\)/);
  await refused(["2001:db8::/31"], /2001:db8::\/31 is wider than \/32 \(max_manual_v6\)/);
  // Forced or not: the resolver, the gateway, the host's own address.
  for (const force of [[], ["--force"]]) {
    await refused(["198.51.100.0/24", ...force], new RegExp(`198\\.51\\.100\\.0/24 covers this host's resolver ${RESOLVER.replace(/\./g, "\\.")} \\(/etc/resolv\\.conf\\)`));
    await refused([GATEWAY, ...force], new RegExp(`${GATEWAY.replace(/\./g, "\\.")} covers this host's gateway ${GATEWAY.replace(/\./g, "\\.")} \\(/proc/net/route\\)`));
    await refused(["192.0.2.0/24", ...force], /192\.0\.2\.0\/24 covers this host's address 192\.0\.2\.1 \(vh\)/);
  }
  await refused(["0.0.0.0/0", "--force"], /0\.0\.0\.0\/0 is in the allow list \(127\.0\.0\.0\/8\)/);
  await refused(["192.0.0.0/8", "--force"], /192\.0\.0\.0\/8 covers this host's address 192\.0\.2\.1 \(vh\)/);

  // Forced, a network wider than the limit is banned.
  const forced = await inst.cli("ban", ["198.18.0.0/15", "--force"]);
  assert.equal(forced.code, 0, forced.stdout + forced.stderr);
  assert.match(forced.stdout, /^banned 198\.18\.0\.0\/15$/m);
  await waitListed(inst, "198.18.0.0/15");
  assert.equal((await inst.cli("unban", ["198.18.0.0/15"])).code, 0);

  // `iblock import`: each line a manual ban, held to the same rules, --force the
  // same way, save that nothing wider than /8 goes in, forced or not.
  const file = join(inst.dir, "list.txt");
  await writeFile(file, `198.18.0.0/15\n${RESOLVER}\n${GATEWAY}\n128.0.0.0/1\n`);
  const plain = await inst.cli("import", [file]);
  assert.equal(plain.code, EX.DATAERR, plain.stdout + plain.stderr);
  assert.match(plain.stdout, /imported 0 ban\(s\) .* 2 too wide, 2 this host's/);
  assert.match(plain.stderr, /line 1: "198\.18\.0\.0\/15": 198\.18\.0\.0\/15 is wider than \/16 \(max_manual_v4\)/);
  assert.match(plain.stderr, /line 2: .*covers this host's resolver/);
  const forcedImport = await inst.cli("import", [file, "--force"]);
  assert.equal(forcedImport.code, 0, forcedImport.stdout + forcedImport.stderr);
  assert.match(forcedImport.stdout, /imported 1 ban\(s\) .* 1 too wide, 2 this host's/);
  assert.match(forcedImport.stderr, /line 4: "128\.0\.0\.0\/1": 128\.0\.0\.0\/1 is wider than \/8, the widest an import takes \(--force or not\)/);
  await waitListed(inst, "198.18.0.0/15");
  assert.equal((await inst.cli("unban", ["198.18.0.0/15"])).code, 0);

  // The API: the same refusals as 403 with the same words, and "force": true.
  const wide = await post({ address: "0.0.0.0/2" });
  assert.equal(wide.status, 403, wide.text);
  assert.match(wide.json<{ error: string }>().error, /0\.0\.0\.0\/2 is wider than \/16 \(max_manual_v4\)/);
  const resolver = await post({ address: "198.51.100.0/24", force: true });
  assert.equal(resolver.status, 403, resolver.text);
  assert.match(resolver.json<{ error: string }>().error, /covers this host's resolver 198\.51\.100\.53/);
  const gateway = await post({ address: GATEWAY, force: true });
  assert.equal(gateway.status, 403, gateway.text);
  assert.match(gateway.json<{ error: string }>().error, /covers this host's gateway/);
  const notBool = await post({ address: "198.18.0.0/15", force: "yes" });
  assert.equal(notBool.status, 400, notBool.text);
  const api = await post({ address: "198.18.0.0/15", force: true });
  assert.equal(api.status, 200, api.text);
  assert.deepEqual(api.json(), { banned: "198.18.0.0/15" });
  await waitListed(inst, "198.18.0.0/15");

  // Nothing refused reached the store or the firewall.
  const listed = (await inst.list()).map((b) => b.prefix);
  assert.deepEqual(listed, ["198.18.0.0/15"]);
  const elements = await bannedElements(topo.host);
  assert.ok(elements.has("198.18.0.0/15"), [...elements].join(" "));
  for (const net of ["0.0.0.0/1", "192.0.2.0/24", "198.51.100.0/24"]) assert.equal(countV4Within(elements, net), 0, `nothing of ${net}: ${[...elements].join(" ")}`);
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});

// A plain address is widened to ipv4_prefix before it is banned: the widening
// must not carry it over the resolver, the gateway or the host's own address
// next door. It falls back to the address alone (as it does next to an
// allowed one), for a trap hit, a manual ban, the API and an import alike.
void test("a plain address widened into the resolver's, gateway's or host's network is banned alone", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const etc = join("/etc/netns", topo.host);
  await mkdir(etc, { recursive: true });
  t.after(() => rm(etc, { recursive: true, force: true }));
  await writeFile(join(etc, "resolv.conf"), `nameserver ${RESOLVER}\n`);
  await run(["ip", "-n", topo.host, "route", "add", "default", "via", GATEWAY]);

  const inst = await createInstance(t, topo.host);
  const tokenFile = join(inst.dir, "token");
  await writeFile(tokenFile, TOKEN + "\n");
  await chmod(tokenFile, 0o600);
  await inst.writeConfig({ allow_self: false, ipv4_prefix: 24, trap_ports: [23], http: { enabled: true, token_file: tokenFile } } as unknown as IblockConfig);
  const d = await inst.start();
  await d.waitForLine(/http: serving .* on http:\/\/127\.0\.0\.1:9107\//, 10_000);
  const http = await Bridge.open(t, topo.host, "127.0.0.1", 9107);

  // By hand: 198.51.100.0/24 would hold the resolver.
  const manual = await inst.cli("ban", ["198.51.100.7"]);
  assert.equal(manual.code, 0, manual.stdout + manual.stderr);
  assert.match(manual.stdout, /^banned 198\.51\.100\.7$/m);
  // The API: 192.0.2.0/24 would hold the host and its gateway.
  const api = await http.request("/api/bans", { method: "POST", headers: HEADERS, body: JSON.stringify({ address: "192.0.2.77" }) });
  assert.equal(api.status, 200, api.text);
  assert.deepEqual(api.json(), { banned: "192.0.2.77" });
  // A trap hit from the scanner, 192.0.2.2, in the host's own /24.
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitListed(inst, `${ADDR.scannerV4}/32`);
  // An import's plain line, next to the resolver.
  const file = join(inst.dir, "list.txt");
  await writeFile(file, "198.51.100.9\n");
  const imported = await inst.cli("import", [file]);
  assert.equal(imported.code, 0, imported.stdout + imported.stderr);
  // Elsewhere the widening holds.
  const far = await inst.cli("ban", ["203.0.113.7"]);
  assert.match(far.stdout, /^banned 203\.0\.113\.0\/24$/m, far.stdout + far.stderr);

  await waitListed(inst, "198.51.100.9/32");
  assert.deepEqual((await inst.list()).map((b) => b.prefix).sort(), ["192.0.2.2/32", "192.0.2.77/32", "198.51.100.7/32", "198.51.100.9/32", "203.0.113.0/24"]);
  const elements = await bannedElements(topo.host);
  for (const net of ["192.0.2.0/24", "198.51.100.0/24"]) assert.ok(!elements.has(net), `no ban of ${net}: ${[...elements].join(" ")}`);
  assert.deepEqual(await d.stop(), { code: 0, signal: null }, d.tail());
});
