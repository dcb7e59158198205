import type { Config } from "../config.js";
import { nftOptions } from "../firewall/registry.js";
import { nftFile } from "../firewall/nft-ruleset.js";
import { pfConf } from "./pf.js";
import { fail2banAction } from "./fail2ban.js";
import { sshguardBackend } from "./sshguard.js";
import { doasConf, inetdConf, rcScript, systemdService, systemdSocket } from "./services.js";

/** `iblock setup TARGET`: every file made from the same config, so they agree. */
export const SETUP_TARGETS: Record<string, ((c: Config) => string) | undefined> = {
  pf: pfConf,
  // A saved copy must not carry today's host addresses: the daemon adds them (allow_self) at start.
  nftables: (c) => nftFile(nftOptions({ ...c, allow_self: false })),
  inetd: (c) => inetdConf(c),
  doas: doasConf,
  rc: (c) => rcScript(c),
  systemd: (c) => systemdService(c),
  "systemd-socket": systemdSocket,
  fail2ban: fail2banAction,
  sshguard: (c) => sshguardBackend(c),
};

/** The targets whose file runs iblock with root's rights or CAP_NET_ADMIN: the program and config they name must be root's alone. */
export const PRIVILEGED_TARGETS: ReadonlySet<string> = new Set(["systemd", "rc", "inetd", "sshguard"]);
