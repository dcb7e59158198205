import { NoFirewall } from "../../src/firewall/none.js";
import { runFirewallSuite } from "../support/firewall-suite.js";

runFirewallSuite({ name: "none", make: () => new NoFirewall(), skip: false });
