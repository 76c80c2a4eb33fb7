/**
 * The chart's Grafana dashboard (charts/kvroute/dashboards/kvroute.json) queries only metrics kvroute exports: every
 * metric name in every panel's PromQL is checked against the families of a real /metrics scrape of the harness
 * (after routed requests), a histogram by its `_bucket`/`_sum`/`_count` series. And the chart ships the dashboard
 * as a ConfigMap for Grafana's sidecar only when asked.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Harness } from "../extproc/harness";
import { routeSome, scrapeMetrics, startRoutedHarness } from "../observability/routed-scrape";
import { runPromtool } from "../support/promtool";
import { scratchDir } from "../support/scratch-dir";
import { CHART, at, ofKind, renderChart } from "./helm-render";
import type { Obj } from "./helm-render";

const DASHBOARD_FILE = path.join(CHART, "dashboards/kvroute.json");

interface Panel {
  readonly title?: string;
  readonly type: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

/** Every panel, rows' nested panels included. */
function panelsOf(dashboard: { panels: readonly Panel[] }): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** PromQL words that are not metric names (aggregation modifiers, set operators, vector matching). */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

/**
 * The metric names a PromQL expression selects: identifiers left once strings, label matchers, ranges, grouping
 * clauses and template variables are removed, other than function names (followed by `(`) and keywords.
 */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?\w+\}?/g, " ");
  const names: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = bare.slice((m.index ?? 0) + m[0].length).trimStart();
    if (after.startsWith("(") || KEYWORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

/** Names a query may select, from a scrape: counters and gauges by name, histograms and summaries by series. */
function selectable(exposition: string): Set<string> {
  const out = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name = "", type] = m;
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) out.add(name + s);
    else if (type === "summary") for (const s of ["", "_sum", "_count"]) out.add(name + s);
    else out.add(name);
  }
  return out;
}

describe("metric names in PromQL", () => {
  it("finds the selected metrics and nothing else", () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.9, sum by (le, pod) (rate(a_bucket{model=~"$model",x="y z"}[$__rate_interval]))) / on (pod) group_left b',
      ),
    ).toEqual(["a_bucket", "b"]);
  });
});

describe("charts/kvroute/dashboards/kvroute.json", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as { panels: Panel[]; uid: string };
  let h: Harness;
  let exported: Set<string>;
  beforeAll(async () => {
    h = await startRoutedHarness();
    await routeSome(h);
    exported = selectable(await scrapeMetrics(h));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it("every panel query selects only metrics kvroute exports", () => {
    const unknown: string[] = [];
    for (const panel of panelsOf(dashboard).filter((p) => p.type !== "row"))
      for (const { expr = "" } of panel.targets ?? [])
        for (const name of metricNamesIn(expr))
          if (!exported.has(name)) unknown.push(`${panel.title ?? "?"}: ${name}`);
    expect(unknown).toEqual([]);
  });

  it("every panel query is valid PromQL (promtool check rules, Grafana's variables filled in)", async () => {
    const exprs = panelsOf(dashboard).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ""));
    const filled = exprs.map((e) => e.replace(/\$__rate_interval/g, "5m").replace(/\$(model|job)/g, ".*"));
    // One recording rule per query: `check rules` parses each expression as Prometheus would.
    const rules = filled.map(
      (expr, i) => `      - record: kvroute_dashboard:q${i}\n        expr: ${JSON.stringify(expr)}\n`,
    );
    const file = path.join(scratchDir("kvroute-dashboard-"), "rules.yaml");
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("")}`);
    const { code, output } = await runPromtool(["check", "rules", file]);
    expect({ code, output }).toEqual({
      code: 0,
      output: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`),
    });
  });

  it("panels have unique ids and fit the 24-column grid", () => {
    const panels = panelsOf(dashboard) as (Panel & { id: number; gridPos: { x: number; w: number } })[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    expect(panels.filter((p) => p.gridPos.x + p.gridPos.w > 24).map((p) => p.title)).toEqual([]);
  });

  it("every panel has a query, and the request-level families are on the dashboard", () => {
    const panels = panelsOf(dashboard).filter((p) => p.type !== "row");
    expect(panels.filter((p) => (p.targets ?? []).every((t) => !t.expr)).map((p) => p.title)).toEqual([]);
    const used = new Set(
      panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? ""))),
    );
    const wanted = [
      "kvroute_routed_requests_total",
      "kvroute_time_to_first_token_seconds_bucket",
      "kvroute_request_duration_seconds_bucket",
      "kvroute_time_per_output_token_seconds_bucket",
      "kvroute_prompt_tokens_sum",
      "kvroute_completion_tokens_sum",
      "kvroute_prefix_hit_blocks_total",
      "kvroute_prefix_lookup_blocks_total",
      "kvroute_routing_fallback_total",
      "kvroute_inflight_requests",
      "kvroute_engine_scrapes_total",
      "kvroute_kv_events_total",
    ];
    expect(wanted.filter((n) => !used.has(n))).toEqual([]);
  });

  it("the chart ships it as a sidecar ConfigMap only when enabled, with the configured labels", async () => {
    const [off, on, custom] = await Promise.all([
      renderChart(),
      renderChart(["--set", "grafanaDashboard.enabled=true"]),
      renderChart([
        "--set",
        "grafanaDashboard.enabled=true",
        "--set",
        "grafanaDashboard.label=dashboards",
        "--set",
        "grafanaDashboard.labelValue=kvroute",
        "--set",
        "grafanaDashboard.namespace=monitoring",
        "--set",
        "grafanaDashboard.annotations.grafana_folder=LLM",
      ]),
    ]);
    const dashboards = (objs: Obj[]): Obj[] =>
      ofKind(objs, "ConfigMap").filter((o) => at(o, "data", "kvroute.json") !== undefined);
    expect(dashboards(off)).toEqual([]);
    const [cm] = dashboards(on);
    expect(at(cm, "metadata", "labels", "grafana_dashboard")).toBe("1");
    expect(at(cm, "metadata", "namespace")).toBe("llm");
    expect(JSON.parse(String(at(cm, "data", "kvroute.json")))).toEqual(
      JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")),
    );
    const [moved] = dashboards(custom);
    expect({
      labels: at(moved, "metadata", "labels") as Obj,
      namespace: at(moved, "metadata", "namespace"),
      folder: at(moved, "metadata", "annotations", "grafana_folder"),
    }).toMatchObject({ labels: { dashboards: "kvroute" }, namespace: "monitoring", folder: "LLM" });
    expect(at(moved, "metadata", "labels", "grafana_dashboard")).toBeUndefined();
  }, 60_000);
});
