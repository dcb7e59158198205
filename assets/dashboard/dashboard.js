// The dashboard's charts (uPlot) and live table (server-sent events). The page
// works without this file: every number is in its tables already, unless reads
// need a token (read_token_file): then the page is empty and this file asks for
// the token once, keeps it in the tab's sessionStorage and sends it as a header
// (the event stream too: read with fetch, since EventSource sends no headers).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "iblock-token";
  const closed = document.body.dataset.reads === "token";
  let token = closed ? sessionStorage.getItem(TOKEN_KEY) : null;
  // Resolved when a token is typed in; requests refused for want of one wait on it.
  let tokenGiven = null;
  const withToken = (headers) => (token ? { ...headers, authorization: `Bearer ${token}` } : headers);

  class Refused extends Error {}

  // Shows the form once for every request refused meanwhile (the stream and the numbers).
  function ask(message) {
    if (tokenGiven) return tokenGiven;
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    $("unlock").hidden = false;
    $("unlock-error").textContent = message;
    tokenGiven = new Promise((resolve) => {
      $("unlock").onsubmit = (e) => {
        e.preventDefault();
        token = $("token").value.trim();
        sessionStorage.setItem(TOKEN_KEY, token);
        $("unlock").hidden = true;
        tokenGiven = null;
        resolve();
      };
    });
    return tokenGiven;
  }

  // 401 (no token) and 403 (wrong token): ask for it.
  function refused(r) {
    if (r.status !== 401 && r.status !== 403) return false;
    void ask(r.status === 403 ? "wrong token" : "");
    return true;
  }
  const WIDTH = () => Math.max(300, $("chart-active").parentElement.clientWidth - 24);
  const axis = { stroke: "#7d8a96", grid: { stroke: "#253040" }, ticks: { stroke: "#253040" } };
  const charts = {};
  // For the browser test: what each chart was given.
  window.iblockCharts = charts;

  function chart(id, opts, data) {
    if (charts[id]) {
      charts[id].setData(data);
      return;
    }
    charts[id] = new uPlot({ width: WIDTH(), height: opts.height || 220, axes: opts.axes || [axis, axis], ...opts }, data, $(id));
  }

  // Bars with text labels under them (ports, networks). Long labels (an IPv6
  // /48 is up to 20 characters) are turned upright so neighbours never overlap.
  function bars(id, labels, values, color, upright) {
    const xs = labels.map((_, i) => i);
    const under = upright ? { rotate: -90, size: 150 } : {};
    chart(
      id,
      {
        height: upright ? 340 : 220,
        scales: { x: { time: false, range: [-0.5, Math.max(labels.length, 1) - 0.5] } },
        axes: [{ ...axis, ...under, values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? labels[t] ?? "" : "")) }, axis],
        series: [{}, { label: "", fill: color, stroke: color, paths: uPlot.paths.bars({ size: [0.6, 60] }) }],
        legend: { show: false },
      },
      [xs, values],
    );
  }

  async function get(path) {
    const r = await fetch(path, { headers: withToken({ accept: "application/json" }) });
    if (refused(r)) throw new Refused(`${path}: ${r.status}`);
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  }

  async function refresh() {
    const [stats, history] = await Promise.all([get("/api/stats"), get("/api/history?hours=24")]);
    $("active").textContent = stats.active;
    $("bans24").textContent = stats.bans_last_24h;
    $("hits24").textContent = stats.hits_last_24h;
    // Every minute of the day, zero where nothing happened; bans in force carried over quiet minutes.
    // The API's last minute is the current one, with the bans in force now: a fresh daemon's chart has its point.
    const MIN = 60000;
    const end = Math.floor(Date.now() / MIN) * MIN;
    const byMinute = new Map(history.minutes.map((r) => [r.minute, r]));
    const t = [], active = [], bans = [], hits = [];
    let last = null;
    for (let at = end - 24 * 60 * MIN; at <= end; at += MIN) {
      const r = byMinute.get(at);
      if (r) last = r.active;
      t.push(at / 1000);
      active.push(last);
      bans.push(r ? r.bans : 0);
      hits.push(r ? r.hits : 0);
    }
    chart(
      "chart-active",
      {
        series: [
          {},
          {
            label: "in force",
            stroke: "#e5534b",
            fill: "rgba(229,83,75,0.15)",
            width: 2,
            spanGaps: false,
            // A line needs two points: while there are few, each is drawn as a dot.
            points: { show: (u, s) => u.data[s].filter((v) => v !== null).length < 30, size: 8, fill: "#e5534b" },
          },
        ],
      },
      [t, active],
    );
    chart(
      "chart-minutes",
      {
        series: [
          {},
          { label: "bans", stroke: "#e5534b", width: 2 },
          { label: "hits", stroke: "#539bf5", width: 1 },
        ],
      },
      [t, bans, hits],
    );
    bars("chart-ports", stats.top_ports.map((p) => String(p.port)), stats.top_ports.map((p) => p.hits), "#539bf5");
    bars("chart-networks", stats.top_networks.map((n) => n.network), stats.top_networks.map((n) => n.bans), "#e5534b", true);
    const health = $("health").tBodies[0];
    health.replaceChildren(
      ...Object.entries(stats.health).map(([part, h]) => row([part, h.ok ? "ok" : "PROBLEM", h.detail])),
    );
  }

  function row(cells, cls) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    }
    if (cls) tr.cells[1].className = cls;
    return tr;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function liveState(on) {
    $("live").textContent = on ? "live" : "reconnecting…";
    $("live").className = on ? "on" : "muted";
  }

  // Server-sent events ("event: ban", "data: {...}", blank line) over fetch, reconnecting after 2 s.
  async function live() {
    for (;;) {
      try {
        const r = await fetch("/api/events/stream", { headers: withToken({ accept: "text/event-stream" }), cache: "no-store" });
        if (refused(r)) {
          liveState(false);
          await tokenGiven;
          continue;
        }
        if (r.ok && r.body) {
          liveState(true);
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let end;
            while ((end = buf.indexOf("\n\n")) !== -1) {
              event(buf.slice(0, end));
              buf = buf.slice(end + 2);
            }
          }
        }
      } catch (e) {
        console.warn(e);
      }
      liveState(false);
      await sleep(2000);
    }
  }

  function event(block) {
    let kind = "";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) kind = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (kind === "ban" || kind === "unban") add(data);
  }

  function add(data) {
    const body = $("events").tBodies[0];
    const c = JSON.parse(data);
    const when = c.at.replace("T", " ").slice(0, 19);
    const tr = row([when, c.kind, c.prefix, c.port ?? "", c.kind === "ban" ? c.reason ?? c.source : c.reason], c.kind);
    tr.classList.add("fresh");
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 50) body.deleteRow(-1);
    const active = $("active");
    active.textContent = String(Number(active.textContent) + (c.kind === "ban" ? (c.renewed ? 0 : 1) : -1));
  }

  // A refusal has asked for the token already; its answer refreshes at once.
  const update = () =>
    refresh().catch((e) => {
      if (e instanceof Refused) tokenGiven?.then(update);
      else console.error(e);
    });

  void live();
  update();
  setInterval(update, 30000);
  window.addEventListener("resize", () => {
    for (const c of Object.values(charts)) c.setSize({ width: WIDTH(), height: 220 });
  });
})();
