/**
 * The parser's skim mode (what the scraper runs): lines whose name is not asked for are skimmed, not parsed, and
 * comments are not read; what is kept must be exactly what the full parse keeps.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CATALOGUE_SAMPLE_NAMES, engineMetricsFromText } from "../../../src/cluster/metrics/catalogue";
import { interpretMetricsBody } from "../../../src/cluster/metrics/interpret-body";
import type { ParseOptions } from "../../../src/cluster/metrics/prometheus-text";
import { DEFAULT_MAX_SAMPLES, parsePrometheusText } from "../../../src/cluster/metrics/prometheus-text";

const fixture = (name: string): string => readFileSync(join(__dirname, "fixtures", name), "utf8");
/** The 4.5 KB fixture and a real-size (~40 KB) vLLM v1 body: every histogram family of one model. */
const BODIES = [fixture("vllm-metrics.txt"), fixture("vllm-metrics-full.txt")];

const skim = (text: string, only: ReadonlySet<string>, o: ParseOptions = {}) =>
  parsePrometheusText(text, { ...o, only, skim: true });

describe("parsePrometheusText with skim", () => {
  it("keeps exactly what the full parse keeps on vLLM bodies, and counts the same sample lines", () => {
    for (const body of BODIES) {
      const full = parsePrometheusText(body, { only: CATALOGUE_SAMPLE_NAMES });
      const skimmed = skim(body, CATALOGUE_SAMPLE_NAMES);
      expect(skimmed.samples).toEqual(full.samples);
      expect(skimmed.samples.size).toBeGreaterThanOrEqual(9);
      expect([skimmed.sampleLines, skimmed.malformedLines]).toEqual([full.sampleLines, 0]);
      expect(engineMetricsFromText(skimmed, 5)).toEqual(engineMetricsFromText(parsePrometheusText(body), 5));
    }
  });

  it("the real-size body is real-size", () => {
    const body = BODIES[1] ?? "";
    expect(body.length).toBeGreaterThan(38_000);
    expect(parsePrometheusText(body).sampleLines).toBeGreaterThan(300);
  });

  it.each([
    ["a blank before the label set", 'kept {a="1"} 2'],
    ["a tab after the name", "kept\t2"],
    ["a timestamp", "kept 2 1700000000000"],
    ["a label value holding a space and a brace", 'kept{a="x {y} z"} 2'],
  ])("finds a kept name whatever ends it: %s", (_t, line) => {
    const e = skim(`other{le="1"} 4\n${line}\n`, new Set(["kept"]));
    expect(e.samples.get("kept")?.map((s) => s.value)).toEqual([2]);
    expect([e.sampleLines, e.malformedLines]).toEqual([2, 0]);
  });

  it("does not take a longer or shorter name for a kept one", () => {
    const e = skim('kept_total 1\nkep 2\nkept{a="1"} 3\n', new Set(["kept"]));
    expect(e.samples.get("kept")?.map((s) => s.value)).toEqual([3]);
    expect(e.sampleLines).toBe(3);
  });

  it("checks kept lines in full", () => {
    const e = skim('kept{a="x} 7\nkept{a="1",a="2"} 1\nkept seven\n', new Set(["kept"]));
    expect([e.samples.has("kept"), e.sampleLines, e.malformedLines]).toEqual([false, 0, 3]);
  });

  it.each([
    ["text that is not a sample", "not a sample line"],
    ["a name alone", "lonely"],
    ["no value after the label set", 'other{a="1"}'],
    ["a first character no name starts with", "<html>"],
  ])("counts a skimmed line as malformed when it cannot be one: %s", (_t, line) => {
    const e = skim(`${line}\nkept 1\n`, new Set(["kept"]));
    expect([e.sampleLines, e.malformedLines]).toEqual([1, 1]);
  });

  it("does not read comments, yet stops at # EOF", () => {
    const e = skim("# TYPE a nonsense\n# TYPE a gauge\nkept 1\n# EOF\nkept 2\n", new Set(["kept"]));
    expect(e.types.size).toBe(0);
    expect(e.malformedLines).toBe(0);
    expect(e.samples.get("kept")?.map((s) => s.value)).toEqual([1]);
    expect(e.afterEof).toBe(true);
  });

  it("keeps the sample cap", () => {
    const e = skim("x 1\n".repeat(DEFAULT_MAX_SAMPLES + 5), new Set(["kept"]));
    expect([e.sampleLines, e.truncated]).toEqual([DEFAULT_MAX_SAMPLES, true]);
  });

  it("counts every line of a body with no brace, space or tab as malformed", () => {
    const body = `${"x".repeat(200)}\n`.repeat(20_000);
    const e = skim(body, new Set(["kept"]));
    expect(e.malformedLines).toBe(20_000);
  });
});

describe("interpretMetricsBody on a real-size vLLM body", () => {
  it("maps the same metrics as a full parse", () => {
    const body = BODIES[1] ?? "";
    const r = interpretMetricsBody(body, 9);
    expect(r.t).toBe("ok");
    expect(r.t === "ok" && r.metrics).toEqual(engineMetricsFromText(parsePrometheusText(body), 9));
    expect(r.problems.malformedLines).toBe(0);
  });
});
