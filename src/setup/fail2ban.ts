import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.js";
import { packageRoot } from "../package-root.js";

/** The action as shipped: contrib/fail2ban/action.d/iblock.py. */
export const FAIL2BAN_ACTION = join("contrib", "fail2ban", "action.d", "iblock.py");
const SHIPPED_SOCKET = 'SOCKET = "/var/lib/iblock/control.sock"';

/**
 * `iblock setup fail2ban`: the Python action (/etc/fail2ban/action.d/iblock.py)
 * with this config's control socket; a JSON string is a Python string literal.
 */
export function fail2banAction(c: Pick<Config, "control_socket">): string {
  const shipped = readFileSync(join(packageRoot(), FAIL2BAN_ACTION), "utf8");
  return shipped.replace(SHIPPED_SOCKET, `SOCKET = ${JSON.stringify(c.control_socket)}`);
}
