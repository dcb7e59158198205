// docs/redis-acl.md gives admins the rule the integration tests' daemons run under.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { aclRule } from "../support/redis-acl.js";

test("docs/redis-acl.md's ACL rule is the one the fleet tests connect with", () => {
  const page = readFileSync(new URL("../../docs/redis-acl.md", import.meta.url), "utf8");
  const line = page.split("\n").find((l) => l.startsWith("ACL SETUSER iblock on >PASSWORD "));
  assert.equal(line, `ACL SETUSER iblock on >PASSWORD ${aclRule("NAME").join(" ")}`);
});
