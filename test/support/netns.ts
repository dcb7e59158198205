// A two-namespace test network: a "host" namespace (runs iblock and a plain TCP
// service) and a "scanner" namespace (the scanner, an innocent "other" source
// and, on request, the whole of 198.18.0.0/15 as sources), joined by one veth
// pair. Only documentation and benchmarking addresses are used, and every
// namespace made here is deleted again (also when the process exits early).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import { LineProcess, run, waitUntil, type RunOptions, type RunResult } from "./proc.js";

/** Addresses of the test network. Scanner and other are in different IPv6 /64s. */
export const ADDR = {
  hostV4: "192.0.2.1",
  hostV6: "2001:db8::1",
  scannerV4: "192.0.2.2",
  scannerV6: "2001:db8:0:1::2",
  /** Another address in the scanner's /64: dropped with it under the default ipv6_prefix. */
  scannerV6Sibling: "2001:db8:0:1::5",
  otherV4: "192.0.2.3",
  otherV6: "2001:db8:0:2::3",
} as const;

/** Many scanner sources (RFC 2544), routed to the host via ADDR.scannerV4. */
export const MANY_SOURCES = "198.18.0.0/15";

/** The plain TCP service in the host namespace (not a trap port). */
export const SERVICE_PORT = 8080;

/**
 * "reset": the handshake completed and the server reset the connection before
 * the client saw it complete (iblock resets trap connections at once).
 */
export type ProbeOutcome = "connected" | "refused" | "timeout" | "reset";

export interface ProbeRequest {
  /** Source address to bind to. */
  src: string;
  dst: string;
  port: number;
  /** Default 1000. */
  timeoutMs?: number;
}

export interface ProbeResult {
  outcome: ProbeOutcome;
  ms: number;
}

// Runs inside a namespace (CommonJS under `node -e`). One request from argv[1],
// or JSON lines on stdin, each answered with one JSON line on stdout.
const PROBE_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
function probe(r, done) {
  const t0 = performance.now();
  let finished = false;
  const s = net.connect({ host: r.dst, port: r.port, localAddress: r.src });
  const finish = (outcome) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    s.destroy();
    done({ id: r.id, outcome, ms: performance.now() - t0 });
  };
  // Decided after the I/O that was due by then: a process held up past the timer
  // (a busy machine) still sees the answer that came in time.
  const timer = setTimeout(() => setImmediate(() => finish("timeout")), r.timeoutMs);
  s.once("connect", () => finish("connected"));
  s.on("error", (e) => finish(e.code === "ECONNREFUSED" ? "refused" : e.code === "ECONNRESET" ? "reset" : "error " + (e.code || e.message)));
}
const out = (res) => process.stdout.write(JSON.stringify(res) + "\n");
if (process.argv[1]) {
  probe(JSON.parse(process.argv[1]), out);
} else {
  const rl = require("node:readline").createInterface({ input: process.stdin });
  rl.on("line", (l) => { if (l.trim()) probe(JSON.parse(l), out); });
  rl.on("close", () => process.exit(0));
}
`;

// A plain TCP service: accepts on every address, IPv4 and IPv6, says "ok", closes.
const SERVICE_SCRIPT = String.raw`
"use strict";
const net = require("node:net");
const srv = net.createServer((s) => { s.on("error", () => {}); s.end("ok\n"); });
srv.on("error", (e) => { console.error("service: " + e.message); process.exit(1); });
srv.listen({ host: "::", port: Number(process.argv[1]), ipv6Only: false, backlog: 4096 }, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
`;

const NO_DAD_SCRIPT = String.raw`
const fs = require("node:fs");
for (const c of ["all", "default"]) fs.writeFileSync("/proc/sys/net/ipv6/conf/" + c + "/accept_dad", "0");
`;

/** Run argv inside namespace `ns` (`ip netns exec`, which execs argv in place). */
export function exec(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(["ip", "netns", "exec", ns, ...argv], opts);
}

/** Start a long-running argv inside namespace `ns`; its pid is the program's own. */
export function spawnIn(ns: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): LineProcess {
  return LineProcess.start(["ip", "netns", "exec", ns, ...argv], opts);
}

/** Start `node -e script ...args` inside `ns`. */
export function spawnNodeScript(ns: string, script: string, args: readonly string[] = [], opts: { stdin?: boolean } = {}): LineProcess {
  return spawnIn(ns, [process.execPath, "-e", script, ...args], opts);
}

function checkOutcome(raw: { outcome: string; ms: number }, req: ProbeRequest): ProbeResult {
  if (raw.outcome === "connected" || raw.outcome === "refused" || raw.outcome === "timeout" || raw.outcome === "reset") {
    return { outcome: raw.outcome, ms: raw.ms };
  }
  throw new Error(`probe ${req.src} -> [${req.dst}]:${req.port}: unexpected ${raw.outcome}`);
}

/** One TCP connect from `src` inside `ns`, in a fresh process. */
export async function tcpProbe(ns: string, req: ProbeRequest): Promise<ProbeOutcome> {
  const timeoutMs = req.timeoutMs ?? 1000;
  const r = await exec(ns, [process.execPath, "-e", PROBE_SCRIPT, JSON.stringify({ ...req, timeoutMs, id: 0 })], {
    timeoutMs: timeoutMs + 10_000,
  });
  return checkOutcome(JSON.parse(r.stdout) as { outcome: string; ms: number }, req).outcome;
}

/** A long-lived probe process inside a namespace: no process start per probe. */
export class Prober {
  private nextId = 1;
  private readonly pending = new Map<number, { req: ProbeRequest; resolve: (r: ProbeResult) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;

  private constructor(private readonly proc: ChildProcess) {
    if (!proc.stdout) throw new Error("prober: no stdout");
    const rl = createInterface({ input: proc.stdout });
    rl.on("line", (line) => {
      let msg: { id: number; outcome: string; ms: number };
      try {
        msg = JSON.parse(line) as { id: number; outcome: string; ms: number };
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      try {
        p.resolve(checkOutcome(msg, p.req));
      } catch (e) {
        p.reject(e as Error);
      }
    });
    proc.on("close", (code, signal) => {
      this.dead = new Error(`prober exited (${signal ?? String(code)})`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    });
    proc.stdin?.on("error", () => undefined);
  }

  static start(ns: string): Prober {
    const proc = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", PROBE_SCRIPT], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    return new Prober(proc);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  probeTimed(req: ProbeRequest): Promise<ProbeResult> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const timeoutMs = req.timeoutMs ?? 1000;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { req, resolve, reject });
      this.proc.stdin?.write(JSON.stringify({ ...req, timeoutMs, id }) + "\n");
    });
  }

  async probe(req: ProbeRequest): Promise<ProbeOutcome> {
    return (await this.probeTimed(req)).outcome;
  }

  close(): void {
    this.proc.stdin?.end();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }
}

// Namespaces of this process not yet deleted: removed at exit even if a test
// runner is interrupted between creation and cleanup.
const liveNamespaces = new Set<string>();
let exitHookInstalled = false;
let counter = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const ns of liveNamespaces) {
      const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      spawnSync("ip", ["netns", "del", ns]);
    }
  });
}

/** A fresh namespace name unique to this process: ibt-<pid>-<n>-<role>. */
export function uniqueName(role: string): string {
  return `ibt-${process.pid}-${counter++}-${role}`;
}

export interface TopologyOptions {
  /** Start the TCP service on SERVICE_PORT in the host namespace. Default true. */
  service?: boolean;
  /** Make all of 198.18.0.0/15 usable as scanner sources. Default false. */
  manySources?: boolean;
  /** More IPv4 source addresses for the scanner namespace (in 192.0.2.0/24). */
  extraV4?: readonly string[];
}

export class Topology {
  private readonly children: LineProcess[] = [];
  private prober: Prober | undefined;
  private destroyed = false;

  private constructor(
    readonly host: string,
    readonly scanner: string,
  ) {}

  /** Build the network, start the service and check both families get through. */
  static async create(opts: TopologyOptions = {}): Promise<Topology> {
    installExitHook();
    const n = counter++;
    const topo = new Topology(`ibt-${process.pid}-${n}-h`, `ibt-${process.pid}-${n}-s`);
    try {
      await topo.build(opts);
    } catch (e) {
      await topo.destroy();
      throw e;
    }
    return topo;
  }

  private async build(opts: TopologyOptions): Promise<void> {
    const { host: H, scanner: S } = this;
    for (const ns of [H, S]) {
      await run(["ip", "netns", "add", ns]);
      liveNamespaces.add(ns);
      // No duplicate address detection: addresses (link-local ones too) are usable at once.
      // Written by node inside the namespace, so procps' sysctl is not needed.
      await exec(ns, [process.execPath, "-e", NO_DAD_SCRIPT]);
      await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    // Created inside the host namespace, so no name ever appears in the caller's.
    await run(["ip", "-n", H, "link", "add", "vh", "type", "veth", "peer", "name", "vs", "netns", S]);
    const batchHost = [
      `addr add ${ADDR.hostV4}/24 dev vh`,
      `addr add ${ADDR.hostV6}/64 dev vh nodad`,
      "link set vh up",
      "route add 2001:db8:0:1::/64 dev vh",
      "route add 2001:db8:0:2::/64 dev vh",
    ];
    const batchScanner = [
      `addr add ${ADDR.scannerV4}/24 dev vs`, // first: the primary, nmap's source
      `addr add ${ADDR.otherV4}/24 dev vs`,
      ...(opts.extraV4 ?? []).map((a) => `addr add ${a}/24 dev vs`),
      `addr add ${ADDR.scannerV6}/64 dev vs nodad`,
      `addr add ${ADDR.scannerV6Sibling}/64 dev vs nodad`,
      `addr add ${ADDR.otherV6}/64 dev vs nodad`,
      "link set vs up",
      "route add 2001:db8::/64 dev vs",
    ];
    if (opts.manySources) {
      // AnyIP: every address of the range can be bound in the scanner namespace,
      // and the host reaches them all through one next hop.
      batchScanner.push(`route add local ${MANY_SOURCES} dev lo`);
      batchHost.push(`route add ${MANY_SOURCES} via ${ADDR.scannerV4} dev vh`);
    }
    await run(["ip", "-n", H, "-batch", "-"], { input: batchHost.join("\n") + "\n" });
    await run(["ip", "-n", S, "-batch", "-"], { input: batchScanner.join("\n") + "\n" });

    if (opts.service ?? true) {
      const svc = this.spawn(H, [process.execPath, "-e", SERVICE_SCRIPT, String(SERVICE_PORT)]);
      await svc.waitForLine(/^listening$/, 10_000);
      // The network works for both families before anything is tested on it.
      for (const [src, dst] of [
        [ADDR.scannerV4, ADDR.hostV4],
        [ADDR.scannerV6, ADDR.hostV6],
      ] as const) {
        await waitUntil(async () => (await this.probe({ src, dst, port: SERVICE_PORT, timeoutMs: 500 })) === "connected", {
          timeoutMs: 10_000,
          intervalMs: 100,
          what: `service reachable from ${src} before any test`,
        });
      }
    }
  }

  /** Run argv in the host namespace. */
  execHost(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return exec(this.host, argv, opts);
  }

  /** Run argv in the scanner namespace. */
  execScanner(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return exec(this.scanner, argv, opts);
  }

  /** Start a long-running argv in `ns`; stopped by destroy(). */
  spawn(ns: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): LineProcess {
    const p = spawnIn(ns, argv, opts);
    this.children.push(p);
    return p;
  }

  /** Start `node -e script args...` in `ns`; stopped by destroy(). */
  spawnNode(ns: string, script: string, args: readonly string[] = [], opts: { stdin?: boolean } = {}): LineProcess {
    return this.spawn(ns, [process.execPath, "-e", script, ...args], opts);
  }

  /** A TCP connect from the scanner namespace, through one long-lived probe process. */
  probe(req: ProbeRequest): Promise<ProbeOutcome> {
    this.prober ??= Prober.start(this.scanner);
    return this.prober.probe(req);
  }

  probeTimed(req: ProbeRequest): Promise<ProbeResult> {
    this.prober ??= Prober.start(this.scanner);
    return this.prober.probeTimed(req);
  }

  /** Probe the service from `src` (to the host address of src's family). */
  probeService(src: string, timeoutMs = 500): Promise<ProbeOutcome> {
    return this.probe({ src, dst: src.includes(":") ? ADDR.hostV6 : ADDR.hostV4, port: SERVICE_PORT, timeoutMs });
  }

  /** Connect from `src` to a trap `port` of the host. */
  hitTrap(src: string, port = 23, timeoutMs = 1000): Promise<ProbeOutcome> {
    return this.probe({ src, dst: src.includes(":") ? ADDR.hostV6 : ADDR.hostV4, port, timeoutMs });
  }

  /** Stop what was started here, kill whatever is left in the namespaces, delete them. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.prober?.close();
    await Promise.all(this.children.map((c) => c.stop("SIGTERM", 3000)));
    for (const ns of [this.host, this.scanner]) await deleteNamespace(ns);
  }
}

/** Create a topology that is destroyed after test `t`, pass or fail. */
export async function createTopology(t: TestContext, opts: TopologyOptions = {}): Promise<Topology> {
  const topo = await Topology.create(opts);
  t.after(() => topo.destroy());
  return topo;
}

/** A namespace made beside a Topology (one more host): deleted at exit like the topology's, if the test cannot. */
export async function addNamespace(role: string): Promise<string> {
  installExitHook();
  const ns = uniqueName(role);
  await run(["ip", "netns", "add", ns]);
  liveNamespaces.add(ns);
  await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  return ns;
}

/** Kill whatever runs in a namespace and delete it (made here or not). */
export async function killNamespace(ns: string): Promise<void> {
  const pids = await run(["ip", "netns", "pids", ns], { check: false });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await run(["ip", "netns", "del", ns], { check: false });
}

/** Kill whatever runs in a namespace of a Topology or addNamespace and delete it, once. */
export async function deleteNamespace(ns: string): Promise<void> {
  if (!liveNamespaces.has(ns)) return;
  await killNamespace(ns);
  liveNamespaces.delete(ns);
}
