// A forger in the scanner namespace: hand-made TCP segments with any source
// address, sent through a raw socket by test/support/raw-tcp.py (Python's
// standard library; Node has no raw sockets). Random sequence and
// acknowledgement numbers stand for an attacker who cannot see the host's
// answers, which go to the forged address.
import { fileURLToPath } from "node:url";
import { exec } from "./netns.js";

const SENDER = fileURLToPath(new URL("./raw-tcp.py", import.meta.url));

/** One segment; flags from S A F R P. A missing seq or ack is random. */
export interface Segment {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string;
  seq?: number;
  ack?: number;
  data?: string;
  /** Wait this long after the previous segment. */
  after_ms?: number;
}

/** Send `segments` in order from namespace `ns`; resolves once all are sent. */
export async function sendSegments(ns: string, segments: readonly Segment[]): Promise<void> {
  const r = await exec(ns, ["python3", SENDER], { input: JSON.stringify({ segments }), timeoutMs: 120_000 });
  const sent = Number(r.stdout.trim());
  if (sent !== segments.length) throw new Error(`raw-tcp.py sent ${r.stdout.trim()} of ${segments.length} segments\n${r.stderr}`);
}

/** A forged connection's fixed part: who it claims to be and where it goes. */
export interface Flow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

const seg = (f: Flow, flags: string, more: Partial<Segment> = {}): Segment => ({ ...f, flags, ...more });

/**
 * The forgeries a blind attacker can make against one flow, each as the
 * segments that follow its opening SYN (if it has one). The host's SYN-ACK
 * goes to the forged address, so every number the attacker sends is a guess.
 */
export const PATTERNS = {
  /** A SYN, then n bare ACKs with random numbers. */
  synThenAcks: (n: number) => ({ syn: true, rest: (f: Flow) => Array.from({ length: n }, () => seg(f, "A")) }),
  /** A SYN, then one bare ACK every `step` acknowledgement numbers, over all 2^32. */
  synThenSweep: (step: number) => ({
    syn: true,
    rest: (f: Flow) => {
      const out: Segment[] = [];
      for (let ack = 0; ack < 2 ** 32; ack += step) out.push(seg(f, "A", { seq: 1001, ack }));
      return out;
    },
  }),
  /** Bare ACKs, no SYN before them. */
  acksAlone: { syn: false, rest: (f: Flow) => [seg(f, "A"), seg(f, "A"), seg(f, "A")] },
  /** A SYN, then an ACK carrying data, a FIN and a reset. */
  dataFinRst: {
    syn: true,
    rest: (f: Flow) => [seg(f, "AP", { data: "GET / HTTP/1.0\r\n\r\n" }), seg(f, "AF"), seg(f, "AR"), seg(f, "A"), seg(f, "R"), seg(f, "A")],
  },
} as const;

export interface Pattern {
  syn: boolean;
  rest: (f: Flow) => Segment[];
}

/**
 * Every flow's SYN first (seq 1000, as the sweep assumes), then, `gapMs`
 * later (the SYN-ACKs have gone out), the rest of each flow in turn.
 */
export function attack(flows: readonly { flow: Flow; pattern: Pattern }[], gapMs = 300): Segment[] {
  const syns = flows.filter((x) => x.pattern.syn).map((x) => seg(x.flow, "S", { seq: 1000 }));
  const rest = flows.flatMap((x) => x.pattern.rest(x.flow));
  if (rest.length) rest[0] = { ...rest[0]!, after_ms: syns.length ? gapMs : 0 };
  return [...syns, ...rest];
}
