// `syslog = true`: the daemon's lines reach a real syslog daemon, facility daemon, tag iblock.
import { test } from "node:test";
import { assertTrapHit, waitDropped } from "../support/checks.js";
import { startDaemon } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { ADDR, createTopology } from "../support/netns.js";
import { startSyslog } from "../support/syslog.js";

test("syslog = true sends blocking and kill-states lines to syslog", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "rsyslogd"])) return;
  const topo = await createTopology(t);
  const syslog = await startSyslog(t, topo.host);
  const d = await startDaemon(t, topo.host, { syslog: true, syslog_socket: syslog.socket });
  await assertTrapHit(topo, ADDR.scannerV4, 23, d);
  await waitDropped(topo, ADDR.scannerV4, d);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: blocking 192\.0\.2\.2 \(port 23\)$/);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: kill states for 192\.0\.2\.2$/);
  await syslog.waitFor(/^daemon\.info iblock(\[\d+\])?: ready /);
});
