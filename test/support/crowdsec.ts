// A real CrowdSec (Debian's crowdsec 1.4) for a test: its own config dir and
// database in a temp dir, the Local API alone (-no-cs: no log acquisition) on
// loopback of a namespace, no central API. cscli works on the same config.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { tempDir } from "./daemon.js";
import { exec, type Topology } from "./netns.js";
import type { RunResult } from "./proc.js";

export const LAPI_PORT = 18080;

const configYaml = (dir: string): string => `common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: ${dir}/
  data_dir: ${dir}/data/
  simulation_path: ${dir}/simulation.yaml
  hub_dir: ${dir}/hub/
  index_path: ${dir}/hub/.index.json
  notification_dir: ${dir}/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: ${dir}/acquis.yaml
cscli:
  output: human
db_config:
  log_level: info
  type: sqlite
  use_wal: false
  db_path: ${dir}/data/crowdsec.db
api:
  client:
    credentials_path: ${dir}/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:${LAPI_PORT}
    profiles_path: ${dir}/profiles.yaml
prometheus:
  enabled: false
`;

const PROFILES = `name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
`;

/** The fields of `cscli alerts list -o json` the tests read. */
export interface CrowdsecAlert {
  scenario: string;
  machine_id: string;
  source: { scope: string; value: string };
  events: { meta: { key: string; value: string }[] }[] | null;
  decisions: { origin: string; value: string; type: string }[] | null;
}

export class CrowdSec {
  private constructor(
    private readonly ns: string,
    readonly dir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${LAPI_PORT}`;
  }

  /** Set up in `topo.host`'s namespace and started; stopped with the topology. */
  static async start(t: TestContext, topo: Topology): Promise<CrowdSec> {
    const dir = await tempDir(t, "iblock-crowdsec-");
    const cs = new CrowdSec(topo.host, dir);
    await writeFile(join(dir, "config.yaml"), configYaml(dir));
    await writeFile(join(dir, "profiles.yaml"), PROFILES);
    await writeFile(join(dir, "simulation.yaml"), "simulation: false\n");
    await writeFile(join(dir, "acquis.yaml"), "");
    await exec(topo.host, ["mkdir", "-p", join(dir, "data"), join(dir, "hub")]);
    // cscli's own machine (for decisions add/delete and alerts list), written where the config says.
    await cs.cscli(["machines", "add", "cscli", "--auto", "-f", join(dir, "local_api_credentials.yaml")]);
    const lapi = topo.spawn(topo.host, ["crowdsec", "-c", join(dir, "config.yaml"), "-no-cs"]);
    await lapi.waitForLine(/CrowdSec Local API listening/, 30_000);
    return cs;
  }

  /** `cscli -c CONFIG ARGS...`; throws on a non-zero exit. */
  cscli(args: readonly string[]): Promise<RunResult> {
    return exec(this.ns, ["cscli", "-c", join(this.dir, "config.yaml"), ...args], { timeoutMs: 30_000 });
  }

  /** A bouncer's API key. */
  async bouncerKey(name: string): Promise<string> {
    return (await this.cscli(["bouncers", "add", name, "-o", "raw"])).stdout.trim();
  }

  /** A machine with this password (validated: it may post alerts). */
  async addMachine(name: string, password: string): Promise<void> {
    await this.cscli(["machines", "add", name, "--password", password, "-f", "/dev/null"]);
  }

  /** `cscli alerts list -o json`, parsed. */
  async alerts(): Promise<CrowdsecAlert[]> {
    const r = await this.cscli(["alerts", "list", "-o", "json", "--limit", "0"]);
    return (JSON.parse(r.stdout) as CrowdsecAlert[] | null) ?? [];
  }
}
