// A third host beside a Topology: a "publisher" namespace running an iblock
// of its own, joined by one veth pair to the host namespace (which reads the
// publisher's list as a feed) and by another to the scanner namespace (whose
// many sources, 198.18.0.0/15, hit the publisher's traps). Each namespace has
// its own nftables, so the two daemons never share a table.
import type { TestContext } from "node:test";
import { addNamespace, deleteNamespace, MANY_SOURCES, type Topology } from "./netns.js";
import { run } from "./proc.js";

export const PUB_ADDR = {
  /** The host's end of the host-publisher link. */
  host: "203.0.113.1",
  /** The publisher as the host sees it: its blocklist is served here. */
  publisher: "203.0.113.2",
  /** The scanner's end of the scanner-publisher link. */
  scanner: "198.51.100.1",
  /** The publisher as the scanner sees it: its traps are hit here. */
  publisherToScanner: "198.51.100.2",
} as const;

/** Make the publisher namespace of `topo` (built with manySources); deleted after test `t`. */
export async function addPublisher(t: TestContext, topo: Topology): Promise<string> {
  const ns = await addNamespace("p");
  t.after(() => deleteNamespace(ns));
  // Both pairs are made inside the publisher namespace, so no name appears in the caller's.
  await run(["ip", "-n", ns, "link", "add", "ph", "type", "veth", "peer", "name", "vp", "netns", topo.host]);
  await run(["ip", "-n", ns, "link", "add", "ps", "type", "veth", "peer", "name", "vq", "netns", topo.scanner]);
  const batches: [string, string[]][] = [
    [ns, [`addr add ${PUB_ADDR.publisher}/24 dev ph`, `addr add ${PUB_ADDR.publisherToScanner}/24 dev ps`, "link set ph up", "link set ps up", `route add ${MANY_SOURCES} via ${PUB_ADDR.scanner} dev ps`]],
    [topo.host, [`addr add ${PUB_ADDR.host}/24 dev vp`, "link set vp up"]],
    [topo.scanner, [`addr add ${PUB_ADDR.scanner}/24 dev vq`, "link set vq up"]],
  ];
  for (const [where, batch] of batches) await run(["ip", "-n", where, "-batch", "-"], { input: batch.join("\n") + "\n" });
  return ns;
}
