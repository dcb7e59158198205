import { formatPrefix } from "../net/address.js";
import type { HostFacts } from "../policy/host-addresses.js";
import type { Policy } from "../policy/policy.js";
import type { Verified } from "./message.js";
import type { RefusalReason } from "./metrics.js";

/** Our own rules over a peer's ban, from the stream or the snapshot alike. */
export class PeerRules {
  /** This host's addresses, gateways and resolvers, read again for each batch of the stream and of the snapshot. */
  private host: HostFacts | undefined;

  constructor(
    private readonly minV4: number,
    private readonly minV6: number,
    private readonly policy: Policy,
  ) {}

  /** A new batch: this host's facts are read again at its first check. */
  newBatch(): void {
    this.host = undefined;
  }

  /** Why a peer's ban is refused here: too wide, allowed here, or over this host's addresses, gateways or resolvers. */
  refusal(m: Verified): { why: string; reason: RefusalReason } | undefined {
    const p = m.prefix;
    const min = p.family === 4 ? this.minV4 : this.minV6;
    if (p.length < min) return { why: `ban of ${formatPrefix(p)} from ${m.origin} is wider than /${min} (peer_min_prefix_v${p.family})`, reason: "too_wide" };
    const allowed = this.policy.allow.describe(p);
    if (allowed) return { why: `ban from ${m.origin}: ${allowed}`, reason: "allowed" };
    this.host ??= this.policy.hostFacts();
    const ours = this.host.covering(p);
    return ours === undefined ? undefined : { why: `ban of ${formatPrefix(p)} from ${m.origin} ${ours}`, reason: "host" };
  }
}
