/**
 * The routing benchmark end to end at a tiny scale: a real `kvroute-sim` child, a real kvroute child for one
 * strategy, the precise one (KV events on), and the Envoy driver. One strategy and one replica keep the test cheap:
 * a row and a chart group per strategy, and the per-replica column, are checked below on synthetic results, and the
 * round-robin over replicas (`--router-replicas`) against two real kvroutes in test/bench-e2e/driver.test.ts — a
 * second kvroute child here cost ~1.4 CPU-s. Asserts the report's shape only; speed and ranking depend on the
 * machine and the load, which is what the benchmark itself is for. The metrics check is asserted in full: promtool
 * (required, as in test/observability/promtool.test.ts) finds kvroute's `/metrics` clean and every request-level
 * family has samples.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseRoutingOptions, runRoutingBenchmark } from "../../bench/routing";
import type { RoutingReport } from "../../bench/routing";
import {
  REQUEST_FAMILIES,
  foldChecks,
  formatMetricsCheck,
  runPromtoolCheck,
} from "../../bench/routing-metrics-check";
import { routingChartSvg } from "../../bench/routing-chart";
import { formatRanking, formatTable } from "../../bench/routing-report";
import { promtool } from "../support/promtool";

/**
 * Well-formed XML check (no XML parser is among the dependencies): one root element, every tag closed in order,
 * attributes quoted, `&` only in character references. Returns the element names in document order.
 */
function wellFormedElements(xml: string): string[] {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, "").trim();
  const stack: string[] = [];
  const names: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < body.length) {
    const lt = body.indexOf("<", i);
    const text = body.slice(i, lt === -1 ? body.length : lt);
    if (/&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/.test(text)) throw new Error(`bad entity in ${text}`);
    if (text.trim() && stack.length === 0) throw new Error(`text outside the root: ${text}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(body);
    if (!m) throw new Error(`malformed tag at ${body.slice(lt, lt + 60)}`);
    const [, close, name = "", attrs = "", selfClose] = m;
    if (/&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/.test(attrs)) throw new Error(`bad entity in ${attrs}`);
    if (close) {
      if (stack.pop() !== name) throw new Error(`unbalanced </${name}>`);
    } else {
      if (stack.length === 0) roots++;
      names.push(name);
      if (!selfClose) stack.push(name);
    }
    i = tag.lastIndex;
  }
  if (stack.length > 0 || roots !== 1) throw new Error(`unclosed ${stack.join(",")} or ${roots} roots`);
  return names;
}

describe("npm run bench -- routing, tiny scale", () => {
  let dir: string;
  let report: RoutingReport;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "routing-bench-test-"));
    // 16 output tokens at scale 0.25: about 4 per request, so time per output token (≥ 2 completion tokens) is seen.
    const o = parseRoutingOptions([
      ...["--groups", "4", "--prompts-per-group", "2", "--output-tokens", "16", "--scale", "0.25"],
      ...["--rate", "20", "--pods", "2", "--strategies", "prefix-cache-precise"],
      ...["--json", path.join(dir, "r.json"), "--chart", path.join(dir, "r.svg"), "--no-progress"],
    ]);
    report = await runRoutingBenchmark(o, () => undefined);
  }, 90_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports every strategy with sane figures", () => {
    expect(report.results.map((r) => r.strategy)).toEqual(["prefix-cache (precise)"]);
    expect(report.routerReplicas).toBe(1);
    expect(report.scenario).toBeNull();
    for (const r of report.results) {
      expect(r.routerReplicas).toBe(1);
      expect(r.perReplica).toEqual([8]);
      expect(r.requests).toBe(8);
      expect(r.succeeded).toBe(8);
      expect(r.hitRate).toBeGreaterThanOrEqual(0);
      expect(r.hitRate).toBeLessThanOrEqual(1);
      expect(Object.keys(r.perPod)).toHaveLength(2);
      expect(Object.values(r.perPod).reduce((a, b) => a + b, 0)).toBe(8);
      expect(r.ttftMs.count).toBe(8);
      expect(r.ttftMs.p50).toBeLessThanOrEqual(r.ttftMs.p99);
      expect(r.outputTokensPerSecond).toBeGreaterThan(0);
      expect(r.decisionMeanUs).toBeGreaterThan(0);
    }
    expect(report.results[0]?.kvEvents).toBe(true);
    // Two of the three compared strategy kinds are missing, so the check does not apply.
    expect(report.ranking.applicable).toBe(false);
    expect(report.ranking.routerReplicas).toBe(1);
    expect(formatRanking(report.ranking)).toContain("skipped");
    const table = formatTable(report.results).split("\n");
    expect(table).toHaveLength(3);
    // The per-replica column only behind several replicas (the synthetic two-replica case is below).
    expect(table[0]).not.toContain("per-replica");
  });

  it("checks one replica's /metrics per strategy before it stops: promtool clean, every new family present", () => {
    promtool(); // Fails naming the install command when promtool is missing (the check would say "not checked").
    expect(report.metrics).toEqual({
      scrapes: 1,
      promtool: { t: "clean" },
      present: [...REQUEST_FAMILIES],
      missing: [],
    });
    expect(formatMetricsCheck(report.metrics)).toBe(
      `metrics: promtool clean; ${REQUEST_FAMILIES.join(", ")} present`,
    );
  });

  it("writes the JSON report", () => {
    const json = JSON.parse(readFileSync(path.join(dir, "r.json"), "utf8")) as RoutingReport;
    expect(json.results.map((r) => r.strategy)).toEqual(report.results.map((r) => r.strategy));
    expect(json.options.strategies).toEqual(["prefix-cache-precise"]);
    expect(json.scenario).toBeNull();
    expect(json.metrics.promtool).toEqual({ t: "clean" });
    expect(json.routerReplicas).toBe(1);
    expect(json.options.routerReplicas).toBe(1);
    expect(json.results.map((r) => r.perReplica)).toEqual([[8]]);
  });

  it("writes a well-formed SVG with one group per strategy", () => {
    const svg = readFileSync(report.chart, "utf8");
    const elements = wellFormedElements(svg);
    expect(elements[0]).toBe("svg");
    const groups = [...svg.matchAll(/<g class="strategy" data-strategy="([^"]*)">/g)].map((m) => m[1]);
    expect(groups).toEqual(["prefix-cache (precise)"]);
    expect(elements.filter((e) => e === "g")).toHaveLength(1);
  });

  it("gives each strategy its own table row and chart group", () => {
    const [measured] = report.results;
    if (measured === undefined) throw new Error("no result");
    const two = [{ ...measured, strategy: "random", kvEvents: false }, measured];
    const table = formatTable(two).split("\n");
    expect(table).toHaveLength(4);
    expect(table[2]).toMatch(/^random /);
    expect(table[3]).toMatch(/^prefix-cache \(precise\) /);
    const svg = routingChartSvg(two, "t", "s");
    const groups = [...svg.matchAll(/<g class="strategy" data-strategy="([^"]*)">/g)].map((m) => m[1]);
    expect(groups).toEqual(["random", "prefix-cache (precise)"]);
    expect(wellFormedElements(svg).filter((e) => e === "g")).toHaveLength(2);
  });

  it("shows each strategy's split over replicas when it ran behind several", () => {
    const [measured] = report.results;
    if (measured === undefined) throw new Error("no result");
    // An uneven split, unlike any other cell: the last column is the requests each replica got.
    const table = formatTable([{ ...measured, routerReplicas: 2, perReplica: [3, 5] }]).split("\n");
    expect(table[0]).toMatch(/ per-replica$/);
    expect(table[2]).toMatch(/ 3\/5$/);
  });
});

describe("routing bench scenarios", () => {
  it("--scenario ha is the shared-prefix workload behind two replicas; sizing flags still apply", () => {
    const o = parseRoutingOptions(["--scenario", "ha", "--groups", "8"]);
    expect(o).toMatchObject({ scenario: "ha", routerReplicas: 2, workload: "shared-prefix", groups: 8 });
    expect(parseRoutingOptions(["--scenario", "single"])).toMatchObject({
      scenario: "single",
      routerReplicas: 1,
    });
  });

  it("defaults to one replica and no scenario", () => {
    expect(parseRoutingOptions([])).toMatchObject({ scenario: undefined, routerReplicas: 1 });
    expect(parseRoutingOptions(["--router-replicas", "3"]).routerReplicas).toBe(3);
  });

  it("rejects an unknown scenario and flags a scenario fixes", () => {
    expect(() => parseRoutingOptions(["--scenario", "nope"])).toThrow(/--scenario/);
    expect(() => parseRoutingOptions(["--scenario", "ha", "--router-replicas", "3"])).toThrow(/--scenario/);
    expect(() => parseRoutingOptions(["--scenario", "ha", "--workload", "multi-turn"])).toThrow(/--scenario/);
    expect(() => parseRoutingOptions(["--router-replicas", "0"])).toThrow(/--router-replicas/);
  });
});

describe("routing bench metrics check", () => {
  it("says 'not checked' without promtool, never clean", async () => {
    const verdict = await runPromtoolCheck("up 1\n", "promtool-not-installed-here");
    expect(verdict).toEqual({ t: "not-checked", why: "promtool is not on PATH" });
    const folded = foldChecks([{ promtool: verdict, present: new Set(["kvroute_routed_requests_total"]) }]);
    expect(formatMetricsCheck(folded)).toMatch(
      /^metrics: promtool not checked \(promtool is not on PATH\); kvroute_routed_requests_total present; missing: /,
    );
  });

  it("reports promtool's problems, which win over clean scrapes", async () => {
    promtool();
    const verdict = await runPromtoolCheck("# HELP bad_total a gauge\n# TYPE bad_total gauge\nbad_total 1\n");
    expect(verdict.t).toBe("problems");
    const folded = foldChecks([
      { promtool: { t: "clean" }, present: new Set() },
      { promtool: verdict, present: new Set() },
    ]);
    expect(folded.promtool.t).toBe("problems");
    expect(formatMetricsCheck(folded)).toMatch(/^metrics: promtool found problems: .*bad_total/);
  });
});
