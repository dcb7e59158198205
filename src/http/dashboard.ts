import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { ReadLimits } from "./access.js";
import type { HttpContext } from "./context.js";
import { stats } from "./routes-read.js";
import { packageRoot } from "../package-root.js";


/** The files the page loads: ours (assets/dashboard) and uPlot's, from the installed package. No CDN. */
function assetFiles(): Map<string, { path: string; type: string }> {
  const ours = join(packageRoot(), "assets", "dashboard");
  const uplot = (file: string): string => createRequire(import.meta.url).resolve(`uplot/dist/${file}`);
  return new Map([
    ["dashboard.js", { path: join(ours, "dashboard.js"), type: "text/javascript; charset=utf-8" }],
    ["dashboard.css", { path: join(ours, "dashboard.css"), type: "text/css; charset=utf-8" }],
    ["uPlot.iife.min.js", { path: uplot("uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" }],
    ["uPlot.min.css", { path: uplot("uPlot.min.css"), type: "text/css; charset=utf-8" }],
  ]);
}

const escape = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

// A cell whose text is "ban" or "unban" gets that class (its colour).
const cell = (c: unknown): string => `<td${c === "ban" || c === "unban" ? ` class="${c}"` : ""}>${escape(c)}</td>`;

const table = (id: string, head: readonly string[], rows: readonly (readonly unknown[])[]): string =>
  `<table id="${id}"><thead><tr>${head.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>` +
  rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("") +
  "</tbody></table>";

/** What the page shows written in: the numbers and the rows of its tables. */
type Shown = {
  active: number | string;
  bans_last_24h: number | string;
  hits_last_24h: number | string;
  top_ports: { port: number; hits: number }[];
  top_networks: { network: string; bans: number }[];
  health: Record<string, { ok: boolean; detail: string }>;
};

// With reads closed the page itself is open, so it holds nothing: the script
// fills it in with the token (held in the tab's sessionStorage, sent as a header).
const NOTHING: Shown = { active: "", bans_last_24h: "", hits_last_24h: "", top_ports: [], top_networks: [], health: {} };

/**
 * The page, its numbers written in: it reads the same with JavaScript off,
 * without the charts. With read_token_file set it is an empty frame and a
 * form for the token.
 */
export function dashboardHtml(ctx: HttpContext): string {
  const closed = ctx.readToken !== undefined;
  const s = closed ? NOTHING : (stats(ctx) as Shown);
  // Bans and unbans only: under a storm the newest events are all hits.
  const events = closed ? [] : ctx.queries.changes(20);
  const latest = events.map((e) => [new Date(e.at).toISOString().replace("T", " ").slice(0, 19), e.kind, e.prefix.replace(/\/(32|128)$/, ""), e.port ?? "", e.detail ?? ""]);
  const health = Object.entries(s.health).map(([part, h]) => [part, h.ok ? "ok" : "PROBLEM", h.detail]);
  const unlock = closed
    ? `<form id="unlock" hidden><label>Token (read_token_file or token_file) <input id="token" type="password" autocomplete="off" required></label> <button>Show</button> <span id="unlock-error" class="muted"></span></form>
<noscript><p>Reading needs the token of read_token_file, which this page sends with JavaScript.</p></noscript>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>iblock</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uPlot.min.css"><link rel="stylesheet" href="/assets/dashboard.css">
</head><body data-reads="${closed ? "token" : "open"}">
<header><h1>iblock</h1><span id="live" class="muted">live updates need JavaScript</span></header>
${unlock}
<section class="numbers">
<div><b id="active">${s.active}</b><span>bans in force</span></div>
<div><b id="bans24">${s.bans_last_24h}</b><span>bans, last 24 h</span></div>
<div><b id="hits24">${s.hits_last_24h}</b><span>trap hits, last 24 h</span></div>
</section>
<section class="charts">
<figure><figcaption>Bans in force</figcaption><div id="chart-active" class="chart"></div></figure>
<figure><figcaption>Bans and hits per minute, last 24 h</figcaption><div id="chart-minutes" class="chart"></div></figure>
<figure><figcaption>Top trap ports, last 24 h</figcaption><div id="chart-ports" class="chart"></div>${table("ports", ["port", "hits"], s.top_ports.map((p) => [p.port, p.hits]))}</figure>
<figure><figcaption>Top /16 and /48 networks, bans in force</figcaption><div id="chart-networks" class="chart"></div>${table("networks", ["network", "bans"], s.top_networks.map((n) => [n.network, n.bans]))}</figure>
</section>
<section class="tables">
<div><h2>Health</h2>${table("health", ["part", "state", "detail"], health)}</div>
<div><h2>Latest bans and unbans</h2>${table("events", ["when (UTC)", "what", "address", "port", "detail"], latest)}</div>
</section>
<footer class="muted">JSON: <a href="/api/stats">/api/stats</a> · <a href="/api/openapi.json">API</a> · <a href="/metrics">/metrics</a> · <a href="/blocklist.txt">/blocklist.txt</a></footer>
<script src="/assets/uPlot.iife.min.js"></script><script src="/assets/dashboard.js"></script>
</body></html>
`;
}

export function registerDashboard(app: FastifyInstance, ctx: HttpContext, limits: ReadLimits): void {
  const files = assetFiles();
  // Read once: a handful of small files that change only with an upgrade.
  const cache = new Map<string, Buffer>();
  for (const [name, f] of files) cache.set(name, readFileSync(f.path));

  // The page and its files are open: with reads closed the page holds no data.
  const open = { config: { access: "open" as const } };
  // The page counts the bans as /api/stats does: it spends the reads' budget.
  app.get("/", { ...open, onRequest: limits.reads }, (_req, reply) =>
    reply
      .type("text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .header("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
      .send(dashboardHtml(ctx)),
  );

  app.get("/assets/:file", open, (req, reply) => {
    const name = (req.params as { file: string }).file;
    const f = files.get(name);
    const body = cache.get(name);
    if (!f || !body) return reply.code(404).send({ error: `no asset ${name}` });
    return reply.type(f.type).header("cache-control", "max-age=3600").send(body);
  });
}
