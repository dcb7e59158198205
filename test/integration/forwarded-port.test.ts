// A trap port that the host forwards elsewhere (DNAT + masquerade, as a
// gateway or a container's published port does) is not a trap: its clients
// reach the machine behind and are never banned, and the start names the rule.
// The host still bans a scanner on a trap port that ends here.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertDropped, assertServed, blockingRe, linesMatching } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { addNamespace, ADDR, createTopology, deleteNamespace } from "../support/netns.js";
import { run } from "../support/proc.js";

const BACKEND = { host: "198.51.100.1", backend: "198.51.100.2" } as const;
const FORWARDED = 3389;

const SERVICE = String.raw`
const srv = require("node:net").createServer((s) => { s.on("error", () => {}); s.end("ok\n"); });
srv.listen(Number(process.argv[1]), () => console.log("listening"));
`;

void test("a DNAT'd trap port: its clients are served by the machine behind, never banned; the start names the rule", async (t) => {
  if (!requireRoot(t)) return;
  const topo = await createTopology(t);
  const backend = await addNamespace("b");
  t.after(() => deleteNamespace(backend));
  await run(["ip", "-n", backend, "link", "add", "bb", "type", "veth", "peer", "name", "hb", "netns", topo.host]);
  await run(["ip", "-n", backend, "-batch", "-"], { input: [`addr add ${BACKEND.backend}/24 dev bb`, "link set bb up", `route add default via ${BACKEND.host}`].join("\n") + "\n" });
  await run(["ip", "-n", topo.host, "-batch", "-"], { input: [`addr add ${BACKEND.host}/24 dev hb`, "link set hb up"].join("\n") + "\n" });
  await topo.execHost([process.execPath, "-e", 'require("node:fs").writeFileSync("/proc/sys/net/ipv4/ip_forward", "1")']);
  await topo.execHost(["nft", "-f", "-"], {
    input: [
      "table ip portfwd {",
      `  chain pre { type nat hook prerouting priority dstnat; tcp dport ${FORWARDED} dnat to ${BACKEND.backend}:${FORWARDED}; }`,
      `  chain post { type nat hook postrouting priority srcnat; ip daddr ${BACKEND.backend} masquerade; }`,
      "}",
    ].join("\n") + "\n",
  });
  const svc = topo.spawnNode(backend, SERVICE, [String(FORWARDED)]);
  await svc.waitForLine(/^listening$/, 10_000);

  const d = await startDaemon(t, topo.host);
  await d.waitForLine(new RegExp(`trap port\\(s\\) ${FORWARDED} forwarded elsewhere by a DNAT rule \\(table ip portfwd, chain pre\\)`), 10_000);

  for (let i = 0; i < 3; i++) {
    const r = await topo.probe({ src: ADDR.otherV4, dst: ADDR.hostV4, port: FORWARDED, timeoutMs: 2000 });
    assert.equal(r, "connected", `client ${i + 1} of the forwarded port is served by the machine behind\n${d.tail()}`);
  }
  // A trap port that ends here still bans; its report is read after the forwarded clients' would be.
  await topo.hitTrap(ADDR.scannerV4, 23);
  await assertDropped(topo, ADDR.scannerV4, d, "a scanner on a trap port of this host");
  await d.waitForLine(blockingRe(ADDR.scannerV4), 5000);
  await assertServed(topo, ADDR.otherV4, d, "the forwarded port's client");
  assert.equal(linesMatching(d, blockingRe(ADDR.otherV4)).length, 0, d.tail());
  assert.ok(!(await d.instance.list()).some((e) => e.prefix === `${ADDR.otherV4}/32`), "the client is not in the store");
});
