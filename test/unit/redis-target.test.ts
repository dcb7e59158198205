import assert from "node:assert/strict";
import { test } from "node:test";
import { maskRedisPassword, parseRedisTarget } from "../../src/cluster/redis-target.js";
import { validateConfig } from "../../src/config.js";
import { EX_CONFIG, IblockError } from "../../src/errors.js";

test("redis:// and rediss:// URLs go to ioredis as written", () => {
  for (const url of ["redis://192.0.2.5:6379/0", "rediss://:pw@redis.example.org:6380/2", "redis://u:p@[2001:db8::5]:6379"]) {
    assert.deepEqual(parseRedisTarget(url), { kind: "url", url });
  }
});

test("a Sentinel URL becomes ioredis's sentinel options", () => {
  assert.deepEqual(parseRedisTarget("redis-sentinel://192.0.2.5:26379,sentinel.example.org,[2001:db8::7]:26380/mymaster"), {
    kind: "sentinel",
    options: {
      name: "mymaster",
      role: "master",
      sentinels: [
        { host: "192.0.2.5", port: 26379 },
        { host: "sentinel.example.org", port: 26379 },
        { host: "2001:db8::7", port: 26380 },
      ],
    },
  });
  assert.deepEqual(parseRedisTarget("redis-sentinel://app:p%40ss@192.0.2.5:26379/web.master/3?sentinel_password=s3&sentinel_user=mon"), {
    kind: "sentinel",
    options: {
      name: "web.master",
      role: "master",
      sentinels: [{ host: "192.0.2.5", port: 26379 }],
      db: 3,
      username: "app",
      password: "p@ss",
      sentinelUsername: "mon",
      sentinelPassword: "s3",
    },
  });
  const tls = parseRedisTarget("rediss-sentinel://:pw@192.0.2.5/m/");
  assert.ok(tls.kind === "sentinel");
  assert.deepEqual(
    { tls: tls.options.tls, sentinelTLS: tls.options.sentinelTLS, on: tls.options.enableTLSForSentinelMode, password: tls.options.password, user: tls.options.username },
    { tls: {}, sentinelTLS: {}, on: true, password: "pw", user: undefined },
  );
});

test("a Cluster URL becomes the nodes to start from, with the password for every node", () => {
  assert.deepEqual(parseRedisTarget("redis-cluster://192.0.2.5:7000,[2001:db8::5]:7001"), {
    kind: "cluster",
    nodes: [
      { host: "192.0.2.5", port: 7000 },
      { host: "2001:db8::5", port: 7001 },
    ],
    options: {},
  });
  assert.deepEqual(parseRedisTarget("rediss-cluster://app:pw@redis.example.org:7000/"), {
    kind: "cluster",
    nodes: [{ host: "redis.example.org", port: 7000 }],
    options: { username: "app", password: "pw", tls: {} },
  });
});

test("bad Redis values are refused saying what is wrong", () => {
  const cases: [string, RegExp][] = [
    ["http://192.0.2.5", /expected a URL "redis:\/\//],
    ["redis://", /expected a URL/],
    ["192.0.2.5:6379", /expected a URL/],
    ["redis-sentinel://192.0.2.5:26379", /expected a URL/],
    ["redis-sentinel://192.0.2.5:26379/", /master name "" is not/],
    ["redis-sentinel://192.0.2.5:26379/bad name", /master name "bad name"/],
    ["redis-sentinel://192.0.2.5:70000/m", /port 70000 is not 1-65535/],
    ["redis-sentinel://192.0.2.5:26379,,192.0.2.6/m", /sentinel "" is not host:port/],
    ["redis-sentinel://[192.0.2.5]:26379/m", /sentinel "\[192.0.2.5\]:26379"/],
    ["redis-sentinel://host_name:26379/m", /sentinel "host_name:26379"/],
    ["redis-sentinel://192.0.2.5/m/x", /database "x" is not a number/],
    ["redis-sentinel://password@192.0.2.5/m", /not "user:password" or ":password"/],
    ["redis-sentinel://:%zz@192.0.2.5/m", /password is not valid percent-encoding/],
    ["redis-sentinel://192.0.2.5/m?password=x", /unknown parameter "password" \(known: sentinel_user, sentinel_password\)/],
    ["redis://192.0.2.5:6379/0?password=x", /a redis:\/\/ or rediss:\/\/ URL takes no parameters/],
    ["rediss://192.0.2.5:6379/0?sentinelPassword=x&family=6", /takes no parameters/],
    ["redis://192.0.2.5:6379/0?", /takes no parameters/],
    ["redis-cluster://192.0.2.5", /cluster node "192.0.2.5" is not host:port/],
    ["redis-cluster://192.0.2.5:7000/0", /a cluster has no database number/],
    ["redis-cluster://192.0.2.5:7000,192.0.2.6:0", /cluster node "192.0.2.6:0": port 0 is not 1-65535/],
  ];
  for (const [value, why] of cases) assert.throws(() => parseRedisTarget(value), why, value);
});

test("[cluster] redis: a bad value is a config error (78) with the key, the value with its password masked, and what is expected", () => {
  const check = (redis: string, shown: string, why: RegExp): void => {
    assert.throws(
      () => validateConfig({ cluster: { redis, name: "web", secret_file: "/k" } }, "t"),
      (e: unknown) => {
        assert.ok(e instanceof IblockError && e.exitCode === EX_CONFIG, String(e));
        assert.ok(e.message.includes(`key "cluster.redis": value ${JSON.stringify(shown)} is not valid`), e.message);
        assert.match(e.message, why);
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      },
    );
  };
  check("redis-sentinel://:hunter2@192.0.2.5:99999/m", "redis-sentinel://:***@192.0.2.5:99999/m", /port 99999/);
  check("redis-sentinel://u:hunter2@192.0.2.5/m?sentinel_password=hunter2&x=1", "redis-sentinel://u:***@192.0.2.5/m?sentinel_password=***&x=1", /unknown parameter "x"/);
  check("redis://192.0.2.5:6379/0?password=hunter2", "redis://192.0.2.5:6379/0?password=***", /takes no parameters/);
  check("redis://192.0.2.5:6379/0?x=1&pass%77ord=hunter2&sentinelPassword=hunter2", "redis://192.0.2.5:6379/0?x=1&pass%77ord=***&sentinelPassword=***", /takes no parameters/);
  check("http://:hunter2@192.0.2.5", "http://:***@192.0.2.5", /redis-sentinel:\/\//);
  const ok = validateConfig({ cluster: { redis: "redis-sentinel://192.0.2.5,192.0.2.6/m", name: "web", secret_file: "/k" } }, "t");
  assert.equal(ok.cluster?.redis, "redis-sentinel://192.0.2.5,192.0.2.6/m", "the config keeps the string as written");
});

test("masking leaves a URL without a password as it is", () => {
  assert.equal(maskRedisPassword("redis://192.0.2.5:6379/0"), "redis://192.0.2.5:6379/0");
  assert.equal(maskRedisPassword("redis-sentinel://192.0.2.5:26379,192.0.2.6:26379/m"), "redis-sentinel://192.0.2.5:26379,192.0.2.6:26379/m");
  assert.equal(maskRedisPassword("rediss://user:pw@192.0.2.5:6379/0"), "rediss://user:***@192.0.2.5:6379/0");
  assert.equal(maskRedisPassword("redis-cluster://:pw@192.0.2.5:7000,192.0.2.6:7000"), "redis-cluster://:***@192.0.2.5:7000,192.0.2.6:7000");
  // An "@" of the password's own, in the login or in the sentinels' password, shows nothing of it.
  assert.equal(maskRedisPassword("redis://u:p@ss@192.0.2.5:6379/0"), "redis://u:***@192.0.2.5:6379/0");
  assert.equal(maskRedisPassword("redis-sentinel://192.0.2.5:26379/m?sentinel_password=p@ss"), "redis-sentinel://192.0.2.5:26379/m?sentinel_password=***");
});
