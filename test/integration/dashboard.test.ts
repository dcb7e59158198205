// The dashboard in a real browser: Debian's chromium, driven by playwright-core,
// run inside the test's host namespace (through `ip netns exec`, which execs
// chromium in place, so playwright's pipe and pid are chromium's own) and
// loading the page from the daemon on that namespace's loopback. After a scan
// in the test: the chart canvases are drawn, the numbers match the API, the
// live table shows a ban made with the page open within 2 s, and with
// JavaScript off the numbers are there as tables. The screenshot is saved as
// test-output/dashboard.png (ignored by git). With read_token_file the page
// holds nothing until the token is typed in (a wrong one is said so), then
// works the same, live table included, and keeps the token over a reload.
import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { assertTrapHit, waitListed } from "../support/checks.js";
import { createInstance, REPO_ROOT, tempDir, type IblockConfig } from "../support/daemon.js";
import { requireRoot } from "../support/env.js";
import { Bridge } from "../support/http-bridge.js";
import { createTopology, type Topology } from "../support/netns.js";

const CHROMIUM = "/usr/bin/chromium";

/** Chromium in the test's host namespace, closed after the test. */
async function chromiumIn(t: TestContext, topo: Topology): Promise<Browser> {
  // Only a script of ours (no shell features), so chromium runs in the namespace with its own pid.
  const dir = await tempDir(t, "iblock-chromium-");
  const wrapper = join(dir, "chromium-in-netns");
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${topo.host} ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o755);
  const browser = await chromium.launch({ executablePath: wrapper, args: ["--no-sandbox", "--disable-gpu"], timeout: 30_000 });
  t.after(() => browser.close());
  return browser;
}
const SCAN = ["192.0.2.21", "192.0.2.22", "192.0.2.23"] as const;
const LATE = "192.0.2.24";
export const SCREENSHOT = join(REPO_ROOT, "test-output", "dashboard.png");

void test("dashboard: charts drawn, numbers as the API says, live table within 2 s, tables without JavaScript", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "chromium"])) return;
  const topo = await createTopology(t, { extraV4: [...SCAN, LATE] });
  const inst = await createInstance(t, topo.host, { http: { enabled: true } } as unknown as IblockConfig);
  const d = await inst.start();
  const api = await Bridge.open(t, topo.host, "127.0.0.1", 9107);

  // A scan: three sources, each on a trap port (its next packet is dropped).
  for (const [i, src] of SCAN.entries()) await assertTrapHit(topo, src, [23, 445, 3389][i], d);
  for (const src of SCAN) await waitListed(inst, `${src}/32`);

  const browser = await chromiumIn(t, topo);
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto("http://127.0.0.1:9107/", { waitUntil: "load" });
  await page.waitForFunction(() => document.getElementById("live")?.textContent === "live", undefined, { timeout: 5000 });

  // Every chart has a canvas with something drawn on it.
  for (const id of ["chart-active", "chart-minutes", "chart-ports", "chart-networks"]) {
    await page.waitForSelector(`#${id} canvas`, { timeout: 5000 });
    const drawn = await page.evaluate((chartId) => {
      const c = document.querySelector<HTMLCanvasElement>(`#${chartId} canvas`);
      const ctx = c?.getContext("2d");
      if (!c || !ctx || c.width === 0 || c.height === 0) return 0;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let painted = 0;
      for (let i = 3; i < px.length; i += 4) if ((px[i] ?? 0) > 0) painted++;
      return painted;
    }, id);
    assert.ok(drawn > 200, `#${id}: ${drawn} pixels drawn`);
  }

  // The numbers on the page are the API's.
  const stats = (await api.request("/api/stats")).json<{ active: number; bans_last_24h: number; hits_last_24h: number; top_ports: { port: number }[] }>();
  assert.equal(stats.active, 3);
  const shown = async (id: string): Promise<number> => Number(await page.textContent(`#${id}`));
  await page.waitForFunction(() => document.getElementById("hits24")?.textContent !== "", undefined, { timeout: 5000 });
  assert.equal(await shown("active"), stats.active);
  assert.equal(await shown("bans24"), stats.bans_last_24h);
  assert.equal(await shown("hits24"), stats.hits_last_24h);
  // Bans in force: the chart's last point is the count above it.
  const activeSeries = await page.evaluate(() => (window as unknown as { iblockCharts: Record<string, { data: (number | null)[][] }> }).iblockCharts["chart-active"]?.data[1] ?? []);
  assert.equal(activeSeries.at(-1), stats.active, "the chart ends on the bans in force");
  // Ten /48 labels (the most the chart shows) fit side by side: upright, a line of text apart at least.
  const fit = await page.evaluate(() => {
    type Axis = { rotate: number | ((...a: unknown[]) => number); font: string | [string, number] };
    const u = (window as unknown as { iblockCharts: Record<string, { axes: Axis[]; bbox: { width: number } }> }).iblockCharts["chart-networks"];
    const ax = u?.axes[0];
    if (!u || !ax) return { ok: false, why: "no chart" };
    const deg = typeof ax.rotate === "function" ? ax.rotate(u, [], 0, 0) : ax.rotate;
    const font = Array.isArray(ax.font) ? ax.font[0] : ax.font;
    const px = Number(/(\d+(?:\.\d+)?)px/.exec(font)?.[1] ?? 12);
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return { ok: false, why: "no canvas" };
    ctx.font = font;
    const longest = ctx.measureText("2001:db8:ffff::/48").width;
    const spacing = u.bbox.width / devicePixelRatio / 10;
    const ok = deg === 0 ? longest <= spacing : spacing * Math.abs(Math.sin((deg * Math.PI) / 180)) >= px;
    return { ok, why: `rotate ${deg}, ${spacing.toFixed(0)} px a label, ${longest.toFixed(0)} px of text, font ${font}` };
  });
  assert.ok(fit.ok, fit.why);
  const health = await page.$$eval("#health tbody tr", (rows) => rows.map((r) => [r.children[0]?.textContent, r.children[1]?.textContent]));
  assert.deepEqual(health.map(([part]) => part), ["daemon", "firewall", "store", "kernel_route", "reconcile"]);
  assert.ok(health.every(([, state]) => state === "ok"), JSON.stringify(health));

  // A ban with the page open appears in the live table: the page reloads its numbers only
  // every 30 s, so within 10 s (room for a busy machine) it came by the event stream.
  await assertTrapHit(topo, LATE, 23, d);
  await page.waitForFunction((addr) => document.querySelector("#events tbody tr")?.textContent?.includes(addr) ?? false, LATE, { timeout: 10_000 });
  assert.equal(await shown("active"), 4, "the count follows the stream");
  assert.deepEqual(errors, [], "no script errors");

  await mkdir(join(REPO_ROOT, "test-output"), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // JavaScript off: the same numbers, as tables written by the server.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const p2 = await plain.newPage();
  await p2.goto("http://127.0.0.1:9107/");
  assert.equal(Number(await p2.textContent("#active")), 4);
  const ports = await p2.$$eval("#ports tbody tr", (rows) => rows.map((r) => Number(r.children[0]?.textContent)));
  for (const port of [23, 445, 3389]) assert.ok(ports.includes(port), `port ${port} in the table: ${ports.join(", ")}`);
  const events = await p2.$$eval("#events tbody tr", (rows) => rows.map((r) => r.textContent ?? ""));
  assert.ok(events.some((e) => e.includes(LATE)), events.join("\n"));
  assert.ok(await p2.isVisible("#ports"), "the table shows when there is no chart");
  await plain.close();
  assert.ok(d.running, d.tail());
});

const READ_TOKEN = "dashboard-read-token-0123456789";

void test("dashboard with read_token_file: empty until the token is given, then numbers and the live table; the token kept over a reload", async (t) => {
  if (!requireRoot(t, ["ip", "nft", "chromium"])) return;
  const topo = await createTopology(t, { extraV4: [...SCAN, LATE] });
  const inst = await createInstance(t, topo.host);
  const tokenFile = join(inst.dir, "read-token");
  await writeFile(tokenFile, READ_TOKEN + "\n");
  await chmod(tokenFile, 0o600);
  await inst.writeConfig({ http: { enabled: true, read_token_file: tokenFile } } as unknown as IblockConfig);
  const d = await inst.start();
  const api = await Bridge.open(t, topo.host, "127.0.0.1", 9107);
  const auth = { authorization: `Bearer ${READ_TOKEN}` };
  await assertTrapHit(topo, SCAN[0], 23, d);
  await waitListed(inst, `${SCAN[0]}/32`);

  const browser = await chromiumIn(t, topo);
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("http://127.0.0.1:9107/", { waitUntil: "load" });

  // Without the token: the form, and no ban anywhere on the page.
  await page.waitForSelector("#unlock", { state: "visible", timeout: 5000 });
  assert.ok(!(await page.textContent("body"))?.includes(SCAN[0]), "no ban shown before the token");
  await page.fill("#token", "not-the-read-token-0000");
  await page.click("#unlock button");
  await page.waitForFunction(() => document.getElementById("unlock-error")?.textContent === "wrong token", undefined, { timeout: 5000 });
  assert.equal(await page.isVisible("#unlock"), true);

  // The token: the numbers are the API's, and the live table follows.
  await page.fill("#token", READ_TOKEN);
  await page.click("#unlock button");
  await page.waitForFunction(() => document.getElementById("live")?.textContent === "live", undefined, { timeout: 5000 });
  const stats = (await api.request("/api/stats", { headers: auth })).json<{ active: number; hits_last_24h: number }>();
  await page.waitForFunction((n) => document.getElementById("active")?.textContent === String(n), stats.active, { timeout: 5000 });
  assert.equal(await page.isVisible("#unlock"), false);
  await assertTrapHit(topo, LATE, 23, d);
  await page.waitForFunction((addr) => document.querySelector("#events tbody tr")?.textContent?.includes(addr) ?? false, LATE, { timeout: 2000 });
  assert.equal(Number(await page.textContent("#active")), stats.active + 1, "the count follows the stream");

  // A reload keeps the token (the tab's sessionStorage): no form, live again.
  await page.reload({ waitUntil: "load" });
  await page.waitForFunction(() => document.getElementById("live")?.textContent === "live", undefined, { timeout: 5000 });
  await page.waitForFunction((n) => document.getElementById("active")?.textContent === String(n), stats.active + 1, { timeout: 5000 });
  assert.equal(await page.isVisible("#unlock"), false);
  assert.deepEqual(errors, [], "no script errors");

  // JavaScript off: nothing to read, and the page says why.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const p2 = await plain.newPage();
  await p2.goto("http://127.0.0.1:9107/");
  const text = (await p2.textContent("body")) ?? "";
  assert.ok(!text.includes(SCAN[0]) && !text.includes(LATE), "no ban without the token");
  assert.match(text, /Reading needs the token of read_token_file/);
  await plain.close();
  assert.ok(d.running, d.tail());
});
