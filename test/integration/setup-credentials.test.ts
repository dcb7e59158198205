// Secrets under systemd: the generated unit passes every secret file the
// config names with LoadCredential=, and the daemon, run by its ExecStart as
// an unprivileged user (as DynamicUser=yes would), reads systemd's copies in
// $CREDENTIALS_DIRECTORY; root's 0600 files themselves it cannot read. And a
// Redis password left in the URL needs a config file nobody else may read.
import assert from "node:assert/strict";
import { chmod, chown, copyFile, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { stringify } from "smol-toml";
import { CLI_JS, EX, requireBuild, tempDir } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Bridge } from "../support/http-bridge.js";
import { spawnIn, uniqueName } from "../support/netns.js";
import { run, waitUntil } from "../support/proc.js";

// The service's user: what DynamicUser=yes would allot, an unprivileged uid.
const SERVICE_UID = 65534;
const REDIS_PASSWORD = "redis-password-4f1c9e";
const SECRET = "0123456789abcdef0123456789abcdef";
const TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const FLEET = "creds";

/** A namespace with loopback up and a redis-server on it that wants REDIS_PASSWORD. */
async function redisNamespace(t: TestContext, dir: string): Promise<string> {
  const ns = uniqueName("creds");
  await run(["ip", "netns", "add", ns]);
  t.after(() => run(["ip", "netns", "del", ns]));
  await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  const redis = spawnIn(ns, ["redis-server", "--save", "", "--appendonly", "no", "--port", "6379", "--bind", "127.0.0.1", "--requirepass", REDIS_PASSWORD, "--dir", dir]);
  t.after(() => redis.stop("SIGTERM", 5000));
  await redis.waitForLine(/Ready to accept connections/, 10_000);
  return ns;
}

async function secretFile(path: string, content: string): Promise<string> {
  await writeFile(path, `${content}\n`);
  await chmod(path, 0o600);
  return path;
}

const redisCli = (ns: string, args: string[]) => run(["ip", "netns", "exec", ns, "redis-cli", "--no-auth-warning", "-a", REDIS_PASSWORD, ...args]);

test("setup systemd: run as an unprivileged user with the unit's credentials, the daemon reads root's 0600 secret, token and Redis password", async (t) => {
  if (!requireRoot(t, ["ip", "redis-server", "redis-cli", "setpriv", "setfacl"])) return;
  requireBuild();
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const ns = await redisNamespace(t, dir);
  // root's, 0600, in a directory only root may enter: the service's user cannot read them by path.
  const secrets = join(dir, "secrets");
  await mkdir(secrets, { mode: 0o700 });
  const stateDir = join(dir, "state");
  await mkdir(stateDir, { mode: 0o750 });
  await chown(stateDir, SERVICE_UID, SERVICE_UID);
  const config = join(dir, "iblock.toml");
  await writeFile(
    config,
    stringify({
      firewall: "none",
      state_dir: stateDir,
      trap_ports: [2121],
      http: { enabled: true, token_file: await secretFile(join(secrets, "http.token"), TOKEN) },
      cluster: {
        redis: "redis://127.0.0.1:6379",
        name: FLEET,
        secret_file: await secretFile(join(secrets, "cluster.key"), SECRET),
        password_file: await secretFile(join(secrets, "redis.pw"), REDIS_PASSWORD),
      },
    }),
  );
  await chmod(config, 0o644);

  const setup = await run([process.execPath, CLI_JS, "setup", "systemd", "-c", config], { check: false });
  assert.equal(setup.code, 0, setup.stderr);
  const unit = setup.stdout;
  const credentials = [...unit.matchAll(/^LoadCredential=([^:\n]+):(.+)$/gm)].map((m) => ({ name: m[1] ?? "", path: m[2] ?? "" }));
  assert.deepEqual(
    credentials.map((c) => c.path).sort(),
    [join(secrets, "cluster.key"), join(secrets, "http.token"), join(secrets, "redis.pw")],
    `one LoadCredential= for each secret file:\n${unit}`,
  );
  assert.match(unit, /^DynamicUser=yes$/m);
  const argv = (/^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "").split(" ");
  assert.deepEqual(argv, [CLI_JS, "run", "-c", config]);

  const asService = (env: NodeJS.ProcessEnv) =>
    spawnIn(ns, ["setpriv", `--reuid=${SERVICE_UID}`, `--regid=${SERVICE_UID}`, "--clear-groups", process.execPath, CLI_JS, ...argv.slice(1)], { env: { PATH: process.env.PATH ?? "", ...env } });

  // Without the credentials the service's user cannot read root's files: what the unit fixes.
  const without = asService({});
  t.after(() => without.stop("SIGKILL", 5000));
  assert.equal((await without.exited).code, EX.CONFIG, without.tail());
  assert.match(without.tail(), /\[cluster\] secret_file: cannot read \S+cluster\.key: EACCES/);

  // Both ways systemd lays its copies out, each copy 0400: root's with an ACL that lets the service's
  // user read it (tmpfs; stat then shows 0440), or the service user's own where there are no ACLs (ramfs).
  const http = await Bridge.open(t, ns, "127.0.0.1", 9107);
  for (const [i, layout] of (["acl", "owner"] as const).entries()) {
    const credentialsDir = join(dir, `credentials-${layout}`);
    await mkdir(credentialsDir, { mode: 0o500 });
    for (const c of credentials) {
      const copy = join(credentialsDir, c.name);
      await copyFile(c.path, copy);
      await chmod(copy, 0o400);
      if (layout === "owner") await chown(copy, SERVICE_UID, SERVICE_UID);
      else {
        await run(["setfacl", "-m", `u:${SERVICE_UID}:r`, copy]);
        assert.equal((await stat(copy)).mode & 0o777, 0o440, "the ACL's mask shows in the group bits");
      }
    }
    if (layout === "owner") await chown(credentialsDir, SERVICE_UID, SERVICE_UID);
    else await run(["setfacl", "-m", `u:${SERVICE_UID}:rx`, credentialsDir]);

    const daemon = asService({ CREDENTIALS_DIRECTORY: credentialsDir });
    t.after(() => daemon.stop("SIGTERM", 5000));
    await daemon.waitForLine(/\bready\b/, 20_000).catch((e: Error) => assert.fail(`${layout}: ${e.message}`));
    await daemon.waitForLine(/cluster: connected to Redis/, 10_000);
    assert.ok(!daemon.lines.some((l) => l.includes("no token_file")), daemon.tail());

    // The token from the credentials opens the API; the ban goes out signed through the password-protected Redis.
    const address = `198.51.100.${7 + i}`;
    const banned = await http.request("/api/bans", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ address, reason: "through the API" }),
    });
    assert.equal(banned.status, 200, `${layout}: ${banned.text}\n${daemon.tail()}`);
    await waitUntil(async () => (await redisCli(ns, ["XRANGE", `iblock:{${FLEET}}:events`, "-", "+"])).stdout.includes(address), {
      timeoutMs: 10_000,
      what: `${layout}: the API's ban in the fleet's stream`,
    });
    assert.equal((await daemon.stop("SIGTERM", 10_000)).code, 0, daemon.tail());
  }
});

test("a Redis password in the URL: refused in a config its group or others may read, taken from one only its owner may", async (t) => {
  if (!requireRoot(t, ["ip", "redis-server"])) return;
  requireBuild();
  const dir = await tempDir(t);
  const ns = await redisNamespace(t, dir);
  const config = join(dir, "iblock.toml");
  await writeFile(
    config,
    stringify({
      firewall: "none",
      state_dir: join(dir, "state"),
      trap_ports: [2121],
      cluster: { redis: `redis://:${REDIS_PASSWORD}@127.0.0.1:6379`, name: FLEET, secret_file: await secretFile(join(dir, "cluster.key"), SECRET) },
    }),
  );
  const start = () => spawnIn(ns, [process.execPath, CLI_JS, "run", "-c", config], { env: { PATH: process.env.PATH ?? "" } });

  await chmod(config, 0o644);
  const open = start();
  t.after(() => open.stop("SIGKILL", 5000));
  const ready = await open.waitForLine(/\bready\b/, 20_000).then(
    () => true,
    () => false,
  );
  assert.equal(ready, false, `the daemon started with the password readable by all:\n${open.tail()}`);
  assert.equal((await open.exited).code, EX.CONFIG, open.tail());
  assert.match(open.tail(), /config \S+iblock\.toml holds a Redis password and has mode 0644: its group or others may read it; expected 0600 or 0400 \(chmod 600 \S+\), or move the password to \[cluster\] password_file/);
  assert.doesNotMatch(open.tail(), new RegExp(REDIS_PASSWORD), "the password itself is never shown");

  await chmod(config, 0o600);
  const daemon = start();
  t.after(() => daemon.stop("SIGTERM", 5000));
  await daemon.waitForLine(/\bready\b/, 20_000);
  await daemon.waitForLine(/cluster: connected to Redis/, 10_000);
});
