/**
 * The routing benchmark end to end at a tiny scale: a real `kvroute-sim` child, a real kvroute child per strategy
 * and the Envoy driver. Asserts the report's shape only; speed and ranking depend on the machine and the load,
 * which is what the benchmark itself is for.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseRoutingOptions, runRoutingBenchmark } from "../../bench/routing";
import type { RoutingReport } from "../../bench/routing";
import { formatTable } from "../../bench/routing-report";

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
    const o = parseRoutingOptions([
      ...["--groups", "4", "--prompts-per-group", "2", "--output-tokens", "4", "--scale", "0.25"],
      ...["--rate", "20", "--pods", "2", "--strategies", "random,prefix-cache-precise"],
      ...["--json", path.join(dir, "r.json"), "--chart", path.join(dir, "r.svg"), "--no-progress"],
    ]);
    report = await runRoutingBenchmark(o, () => undefined);
  }, 90_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports every strategy with sane figures", () => {
    expect(report.results.map((r) => r.strategy)).toEqual(["random", "prefix-cache (precise)"]);
    for (const r of report.results) {
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
    expect(report.results[1]?.kvEvents).toBe(true);
    // Two of the three compared strategy kinds are missing, so the check does not apply.
    expect(report.ranking.applicable).toBe(false);
    expect(formatTable(report.results).split("\n")).toHaveLength(4);
  });

  it("writes the JSON report", () => {
    const json = JSON.parse(readFileSync(path.join(dir, "r.json"), "utf8")) as RoutingReport;
    expect(json.results.map((r) => r.strategy)).toEqual(report.results.map((r) => r.strategy));
    expect(json.options.strategies).toEqual(["random", "prefix-cache-precise"]);
  });

  it("writes a well-formed SVG with one group per strategy", () => {
    const svg = readFileSync(report.chart, "utf8");
    const elements = wellFormedElements(svg);
    expect(elements[0]).toBe("svg");
    const groups = [...svg.matchAll(/<g class="strategy" data-strategy="([^"]*)">/g)].map((m) => m[1]);
    expect(groups).toEqual(["random", "prefix-cache (precise)"]);
    expect(elements.filter((e) => e === "g")).toHaveLength(2);
  });
});
