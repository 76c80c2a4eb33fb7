/**
 * The status page itself: one static HTML document with its CSS and script inline (no build step, no CDN, no web
 * font: it works offline and through `kubectl port-forward`). It holds no data; its script polls
 * `ui/status.json` once a second (relative, so a path-prefixing proxy keeps working) and renders with `textContent`
 * only, so nothing the JSON carries (pod or model names are cluster or client input) is ever parsed as HTML.
 *
 * With a token configured the page and its JSON both need `Authorization: Bearer …`. A browser cannot send a header
 * on navigation, so the 401 answer to the page is {@link STATUS_LOADER_HTML}: it reads the token from the URL
 * fragment (`#token=…`, which browsers never send to the server), fetches the page with the header and replaces
 * itself with it; the page's script then sends the same header with every poll.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { HEALTH_NO_DATA } from "./status-fleet";

const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mut:#59636e;--line:#d1d9e0;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--hl:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;--line:#30363d;--ok:#3fb950;--bad:#f85149;--warn:#d29922;--hl:#161b22}}
*{box-sizing:border-box}body{margin:0;padding:16px 20px;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,sans-serif}
h1{font-size:18px;margin:0 8px 0 0;display:inline}h2{font-size:15px;margin:20px 0 6px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:12px;border-bottom:1px solid var(--line);padding-bottom:8px}
.mut{color:var(--mut)}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:130px;background:var(--hl)}
.card b{display:block;font-size:20px;font-variant-numeric:tabular-nums}.card span{font-size:12px;color:var(--mut)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:12px;color:var(--mut);font-weight:600}td.n,th.n{text-align:right}
.wrap{overflow-x:auto}.bar{display:inline-block;height:8px;background:var(--ok);vertical-align:middle;margin-left:6px;border-radius:2px}
`;

const SCRIPT = `
"use strict";
(function () {
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined) return "\\u2014";
    return typeof v === "number" ? (digits === undefined ? String(v) : v.toFixed(digits)) : String(v);
  }
  // The decision's prefix lookup on the picked pod: "12/14 blocks"; a dash where nothing was looked up.
  function prefixCell(p) {
    if (!p) return el("span", "\\u2014", "mut");
    return el("span", p.hitBlocks + "/" + p.lookupBlocks + " blocks", p.hitBlocks > 0 ? "ok" : "warn");
  }
  // Passive health: out (ejected, probing) warns; "no data" (nothing reported, routable) and a dash (off) are muted.
  function healthCell(h) {
    if (!h) return el("span", "\\u2014", "mut");
    return el("span", h, h === "healthy" ? "" : h === ${JSON.stringify(HEALTH_NO_DATA)} ? "mut" : "warn");
  }
  function pct(v) { return v === null || v === undefined ? "\\u2014" : (v * 100).toFixed(1) + "%"; }
  // cells: text, numbers or elements (a TD as is, others wrapped); numeric: indices of right-aligned columns.
  function row(cells, numeric) {
    var tr = document.createElement("tr");
    cells.forEach(function (c, i) {
      var td = typeof c === "object" && c !== null && c.nodeType ? c : el("td", c);
      if (td.tagName !== "TD") { var w = el("td"); w.appendChild(td); td = w; }
      if (numeric && numeric.indexOf(i) >= 0) td.className = "n";
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(tbodyId, rows, empty, cols) {
    var tb = $(tbodyId);
    tb.replaceChildren();
    if (rows.length === 0) {
      var td = el("td", empty, "mut");
      td.colSpan = cols;
      var tr = document.createElement("tr");
      tr.appendChild(td);
      tb.appendChild(tr);
      return;
    }
    rows.forEach(function (r) { tb.appendChild(r); });
  }
  function usageCell(u) {
    var td = el("td", pct(u), "n");
    if (typeof u === "number") {
      var bar = el("span", null, "bar");
      bar.style.width = Math.round(Math.max(0, Math.min(1, u)) * 40) + "px";
      td.appendChild(bar);
    }
    return td;
  }
  function render(s) {
    $("conn").textContent = "live";
    $("conn").className = "ok";
    $("updated").textContent = "updated " + new Date(s.generatedAt).toLocaleTimeString();
    $("ready").textContent = s.draining ? "draining" : s.ready ? "ready" : "not ready";
    $("ready").className = s.ready ? "ok" : "bad";
    $("default-strategy").textContent = s.defaultStrategy;
    var w = s.window;
    $("pods-ready").textContent = s.totals.readyPods + " / " + s.totals.pods;
    $("inflight").textContent = s.totals.inflight;
    $("dps").textContent = fmt(w.decisionsPerSecond, 2);
    $("decisions-total").textContent = w.decisions;
    $("fallbacks").textContent = w.fallbacks;
    $("prefix-rate").textContent = pct(w.prefix.hitRate);
    $("engine-prefix-rate").textContent = pct(s.totals.enginePrefixHitRate);
    $("p50").textContent = fmt(w.latencyMs.p50);
    $("p90").textContent = fmt(w.latencyMs.p90);
    $("p99").textContent = fmt(w.latencyMs.p99);
    $("pmax").textContent = fmt(w.latencyMs.max);
    $("window-s").textContent = w.seconds;
    fill("fleet-body", s.fleet.map(function (p) {
      var k = p.kvEvents;
      var tr = row([
        p.name, el("span", p.ready ? "ready" : "not ready", p.ready ? "ok" : "bad"), p.models.join(", "),
        p.inflight, usageCell(p.kvCacheUsage), fmt(p.waiting), fmt(p.running),
        fmt(p.blocks.event), fmt(p.blocks.approximate),
        k ? (k.state || "\\u2014") : "off", k ? fmt(k.queued) : "\\u2014", k ? fmt(k.gaps) : "\\u2014",
        pct(p.enginePrefixHitRate), healthCell(p.health),
        p.lastScrapeAgeMs === null ? "\\u2014" : p.lastScrapeAgeMs + " ms"
      ], [3, 4, 5, 6, 7, 8, 10, 11, 12, 14]);
      tr.dataset.pod = p.name;
      return tr;
    }), "no pods", 15);
    fill("strategy-body", w.byStrategy.map(function (x) {
      return row([x.strategy, x.decisions, fmt(x.perSecond, 2)], [1, 2]);
    }), "no decisions in the window", 3);
    var reasons = Object.keys(w.fallbackReasons).sort();
    fill("fallback-body", reasons.map(function (r) { return row([r, w.fallbackReasons[r]], [1]); }), "none", 2);
    fill("recent-body", s.recent.map(function (d) {
      var tr = row([
        new Date(d.at).toLocaleTimeString(), fmt(d.pod), fmt(d.strategy), fmt(d.model),
        prefixCell(d.prefix),
        d.decisionMs === null ? "\\u2014" : d.decisionMs.toFixed(3), fmt(d.fallbackReason), fmt(d.status),
        d.closeReason ? d.outcome + " (" + d.closeReason + ")" : d.outcome
      ], [5, 7]);
      tr.className = "decision";
      return tr;
    }), "no finished requests yet", 9);
  }
  function fail(text) {
    $("conn").textContent = text;
    $("conn").className = "bad";
  }
  function poll() {
    var headers = token ? { authorization: "Bearer " + token } : {};
    fetch("ui/status.json", { headers: headers, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { fail("token required (open the page as #token=\\u2026)"); return null; }
        if (!r.ok) { fail("HTTP " + r.status); return null; }
        return r.json();
      })
      .then(function (s) { if (s) render(s); })
      .catch(function () { fail("disconnected"); })
      .finally(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
`;

const LOADER_SCRIPT = `
"use strict";
(function () {
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  var msg = document.getElementById("msg");
  if (!token) return;
  msg.textContent = "Loading\\u2026";
  fetch(location.pathname, { headers: { authorization: "Bearer " + token }, cache: "no-store" })
    .then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    })
    .then(function (html) { document.open(); document.write(html); document.close(); })
    .catch(function (e) { msg.textContent = "The token was refused (" + e.message + ")."; });
})();
`;

const HEAD = (title: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
  `<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">` +
  `<title>${title}</title><style>${STYLE}</style></head>`;

function card(id: string, label: string): string {
  return `<div class="card"><b id="${id}">\u2014</b><span>${label}</span></div>`;
}

function table(id: string, heads: readonly string[], numeric: readonly number[] = []): string {
  const th = heads.map((h, i) => `<th${numeric.includes(i) ? ' class="n"' : ""}>${h}</th>`).join("");
  return `<div class="wrap"><table id="${id}"><thead><tr>${th}</tr></thead><tbody id="${id}-body"></tbody></table></div>`;
}

/** The page. */
export const STATUS_PAGE_HTML =
  HEAD("kvroute status") +
  `<body><header><h1>kvroute</h1><span id="ready" class="mut">\u2014</span>` +
  `<span class="mut">default strategy <b id="default-strategy">\u2014</b></span>` +
  `<span id="conn" class="mut">connecting\u2026</span><span id="updated" class="mut"></span></header>` +
  `<div class="cards">` +
  card("pods-ready", "pods ready") +
  card("inflight", "requests in flight") +
  card("dps", "decisions / s") +
  card("decisions-total", "decisions in window") +
  card("fallbacks", "fallbacks in window") +
  card("prefix-rate", "prefix hit rate (blocks)") +
  card("engine-prefix-rate", "engine prefix-cache hit rate") +
  `</div><div class="cards">` +
  card("p50", "decision p50 ms") +
  card("p90", "decision p90 ms") +
  card("p99", "decision p99 ms") +
  card("pmax", "decision max ms") +
  `</div><p class="mut">Rates and percentiles over the last <span id="window-s">\u2014</span> s; decision ` +
  `latency is the routing decision alone; the recent decisions' column runs from the request headers, ` +
  `body upload included.</p>` +
  `<h2>Fleet</h2>` +
  table(
    "fleet",
    [
      "pod",
      "readiness",
      "models",
      "in flight",
      "KV cache",
      "queue",
      "running",
      "event blocks",
      "approx. blocks",
      "KV events",
      "queued batches",
      "gaps",
      "engine prefix hits",
      "health",
      "scrape age",
    ],
    [3, 4, 5, 6, 7, 8, 10, 11, 12, 14],
  ) +
  `<h2>Decisions by strategy</h2>` +
  table("strategy", ["strategy", "decisions", "per second"], [1, 2]) +
  `<h2>Fallbacks by reason</h2>` +
  table("fallback", ["reason", "requests"], [1]) +
  `<h2>Recent decisions</h2>` +
  table(
    "recent",
    [
      "finished",
      "pod",
      "strategy",
      "model",
      "prefix",
      "headers \u2192 decision ms",
      "fallback",
      "status",
      "outcome",
    ],
    [5],
  ) +
  `<script>${SCRIPT}</script></body></html>`;

/** The 401 answer to the page: no data, only the fragment-token loader. */
export const STATUS_LOADER_HTML =
  HEAD("kvroute status: token required") +
  `<body><h1>kvroute status</h1><p id="msg">This page needs the status-page token: open it as ` +
  `<code>…/#token=&lt;token&gt;</code>, or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>` +
  `<script>${LOADER_SCRIPT}</script></body></html>`;

const hash = (text: string): string => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/**
 * The pages' Content-Security-Policy: only their own inline script and style (by hash), fetches to this origin,
 * nothing else. Both scripts are listed: the loader's document becomes the page's when it writes it.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)} ${hash(LOADER_SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
