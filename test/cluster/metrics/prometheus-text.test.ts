import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Exposition, Sample } from "../../../src/cluster/metrics/prometheus-text";
import {
  DEFAULT_MAX_SAMPLES,
  labelValue,
  parsePrometheusText,
} from "../../../src/cluster/metrics/prometheus-text";

const FIXTURE = readFileSync(join(__dirname, "fixtures", "vllm-metrics.txt"), "utf8");

/** The only sample of `name`; fails the test when there is not exactly one. */
function only(e: Exposition, name: string): Sample {
  const list = e.samples.get(name);
  expect(list).toHaveLength(1);
  return (list ?? [])[0] as Sample;
}

/** Labels as an object, for readable expectations. */
function labelsOf(s: Sample): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < s.labels.length; i += 2) out[s.labels[i] as string] = s.labels[i + 1] as string;
  return out;
}

describe("parsePrometheusText: well-formed sample lines", () => {
  it.each<[string, string, string, Record<string, string>, number, number | undefined]>([
    ["bare name", "up 1", "up", {}, 1, undefined],
    ["empty label set", "up{} 1", "up", {}, 1, undefined],
    ["colon in the name", "vllm:num_requests_running 3.0", "vllm:num_requests_running", {}, 3, undefined],
    ["leading colon and underscore", "_:x_1 2", "_:x_1", {}, 2, undefined],
    ["one label", 'a{b="c"} 1', "a", { b: "c" }, 1, undefined],
    ["two labels, any order", 'a{z="1",b="2"} 1', "a", { z: "1", b: "2" }, 1, undefined],
    ["trailing comma", 'a{b="c",} 1', "a", { b: "c" }, 1, undefined],
    ["blanks inside the label set", 'a{ b = "c" , d="e" } 1', "a", { b: "c", d: "e" }, 1, undefined],
    ["blank between name and labels", 'a {b="c"} 1', "a", { b: "c" }, 1, undefined],
    ["tabs and repeated blanks", "a\t \t5\t", "a", {}, 5, undefined],
    ["leading blanks", "   a 5", "a", {}, 5, undefined],
    ["CRLF line end", "a 5\r", "a", {}, 5, undefined],
    ["escaped backslash", 'a{p="C:\\\\dir"} 1', "a", { p: "C:\\dir" }, 1, undefined],
    ["escaped quote", 'a{q="say \\"hi\\""} 1', "a", { q: 'say "hi"' }, 1, undefined],
    ["escaped newline", 'a{n="x\\ny"} 1', "a", { n: "x\ny" }, 1, undefined],
    ["braces, commas and = inside a value", 'a{v="{x=1,y}"} 1', "a", { v: "{x=1,y}" }, 1, undefined],
    ["empty value", 'a{v=""} 1', "a", { v: "" }, 1, undefined],
    ["UTF-8 value", 'a{m="模型-é"} 1', "a", { m: "模型-é" }, 1, undefined],
    ["exponent", "a 1.7000000125e+09", "a", {}, 1.7000000125e9, undefined],
    ["negative exponent", "a 2.5E-3", "a", {}, 0.0025, undefined],
    ["negative value", "a -4", "a", {}, -4, undefined],
    ["plus sign", "a +4", "a", {}, 4, undefined],
    ["leading dot", "a .5", "a", {}, 0.5, undefined],
    ["+Inf", "a +Inf", "a", {}, Number.POSITIVE_INFINITY, undefined],
    ["-Inf", "a -Inf", "a", {}, Number.NEGATIVE_INFINITY, undefined],
    ["Inf", "a Inf", "a", {}, Number.POSITIVE_INFINITY, undefined],
    ["timestamp", "a 1 1700000000123", "a", {}, 1, 1700000000123],
    ["negative timestamp", "a 1 -5", "a", {}, 1, -5],
    ["timestamp then blanks", "a 1 17 ", "a", {}, 1, 17],
    ["le label of a bucket", 'h_bucket{le="+Inf"} 431.0', "h_bucket", { le: "+Inf" }, 431, undefined],
  ])("%s", (_title, line, name, labels, value, timestampMs) => {
    const e = parsePrometheusText(`${line}\n`);
    expect(e.malformedLines).toBe(0);
    expect(e.sampleLines).toBe(1);
    const s = only(e, name);
    expect(labelsOf(s)).toEqual(labels);
    expect(s.value).toBe(value);
    expect(s.timestampMs).toBe(timestampMs);
  });

  it("reads NaN", () => {
    const s = only(parsePrometheusText("a NaN"), "a");
    expect(Number.isNaN(s.value)).toBe(true);
  });

  it("keeps label order as exposed (single-process vs multiprocess order both work by name)", () => {
    const e = parsePrometheusText('a{model_name="m",engine="0"} 1\na{engine="1",model_name="m"} 2');
    const list = e.samples.get("a") ?? [];
    expect(list.map((s) => s.labels)).toEqual([
      ["model_name", "m", "engine", "0"],
      ["engine", "1", "model_name", "m"],
    ]);
    expect(list.map((s) => labelValue(s, "engine"))).toEqual(["0", "1"]);
    expect(labelValue(list[0] as Sample, "missing")).toBeUndefined();
  });

  it("accepts a body without a final newline, blank lines and whitespace-only lines", () => {
    const e = parsePrometheusText("\n\n  \t\na 1\n\n\nb 2");
    expect([e.sampleLines, e.malformedLines]).toEqual([2, 0]);
  });

  it("returns an empty exposition for an empty body", () => {
    const e = parsePrometheusText("");
    expect([e.samples.size, e.sampleLines, e.malformedLines, e.truncated]).toEqual([0, 0, 0, false]);
  });
});

describe("parsePrometheusText: HELP, TYPE and comments", () => {
  it("records TYPE per family and ignores HELP unless asked", () => {
    const e = parsePrometheusText(
      "# HELP h Latency.\n# TYPE h histogram\n# TYPE c counter\n# TYPE g gauge\n# TYPE s summary\n# TYPE u untyped\n",
    );
    expect([...e.types]).toEqual([
      ["h", "histogram"],
      ["c", "counter"],
      ["g", "gauge"],
      ["s", "summary"],
      ["u", "untyped"],
    ]);
    expect(e.help.size).toBe(0);
    expect(e.malformedLines).toBe(0);
  });

  it("unescapes HELP text when asked", () => {
    const e = parsePrometheusText("# HELP a One\\ntwo \\\\ \\q\n# HELP b\n", { help: true });
    expect(e.help.get("a")).toBe("One\ntwo \\ \\q");
    expect(e.help.get("b")).toBe("");
  });

  it.each([
    ["plain comment", "# just a comment"],
    ["hash only", "#"],
    ["HELP-like word", "# HELPFUL hints"],
    ["other keyword", "# EOF"],
  ])("ignores a %s", (_t, line) => {
    const e = parsePrometheusText(line);
    expect([e.malformedLines, e.types.size]).toEqual([0, 0]);
  });

  it.each([
    ["unknown type", "# TYPE a gaugey"],
    ["missing type", "# TYPE a"],
    ["missing name", "# TYPE"],
    ["bad name", "# TYPE 1a gauge"],
    ["HELP with a bad name", "# HELP -a text"],
    ["extra token after the type", "# TYPE a gauge extra"],
  ])("counts a malformed TYPE/HELP: %s", (_t, line) => {
    expect(parsePrometheusText(line).malformedLines).toBe(1);
  });

  it("keeps the first TYPE of a family and counts a second one", () => {
    const e = parsePrometheusText("# TYPE a gauge\n# TYPE a counter\n");
    expect(e.types.get("a")).toBe("gauge");
    expect(e.malformedLines).toBe(1);
  });
});

describe("parsePrometheusText: malformed lines are skipped and counted", () => {
  it.each([
    ["no value", "a"],
    ["no value after labels", 'a{b="c"}'],
    ["name runs into junk", "a-b 1"],
    ["name starts with a digit", "1a 1"],
    ["non-numeric value", "a one"],
    ["hex value", "a 0x10"],
    ["two dots", "a 1.2.3"],
    ["bare exponent", "a 1e"],
    ["lowercase nan", "a nan"],
    ["fractional timestamp", "a 1 1.5"],
    ["junk after the timestamp", "a 1 2 3"],
    ["unterminated label value", 'a{b="c} 1'],
    ["unterminated label set", 'a{b="c" 1'],
    ["unquoted label value", "a{b=c} 1"],
    ["label without =", 'a{b"c"} 1'],
    ["label name with colon", 'a{b:c="d"} 1'],
    ["missing comma", 'a{b="c" d="e"} 1'],
    ["unknown escape", 'a{b="\\t"} 1'],
    ["backslash at end of value", 'a{b="c\\'],
    ["duplicate label", 'a{b="1",b="2"} 1'],
    ["line starting with {", '{"a":1}'],
    ["HTML", "<html><body>Not Found</body></html>"],
  ])("%s", (_t, line) => {
    const e = parsePrometheusText(`ok 1\n${line}\nok 2\n`);
    expect(e.malformedLines).toBe(1);
    expect(e.sampleLines).toBe(2);
    expect(e.samples.get("ok")?.map((s) => s.value)).toEqual([1, 2]);
    expect([...e.samples.keys()]).toEqual(["ok"]);
  });

  it("yields zero samples and a malformed count for a body that is not Prometheus", () => {
    const html = "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n</html>\n";
    const json = '{"error": "not found",\n "code": 404}\n';
    for (const body of [html, json, "\u0000\u0001\u0002binary\uFFFD", "Hello, world!"]) {
      const e = parsePrometheusText(body);
      expect(e.sampleLines).toBe(0);
      expect(e.samples.size).toBe(0);
      expect(e.malformedLines).toBeGreaterThan(0);
    }
  });
});

describe("parsePrometheusText: the vLLM fixture", () => {
  const e = parsePrometheusText(FIXTURE);

  it("reads every sample line and nothing is malformed", () => {
    expect(e.malformedLines).toBe(0);
    expect(e.sampleLines).toBe(27);
    expect(e.types.get("vllm:time_to_first_token_seconds")).toBe("histogram");
    expect(e.types.get("vllm:prefix_cache_hits_total")).toBe("counter");
  });

  it("keys histogram series by their own sample names", () => {
    const buckets = e.samples.get("vllm:time_to_first_token_seconds_bucket") ?? [];
    expect(buckets.map((s) => [labelValue(s, "le"), s.value])).toEqual([
      ["0.001", 0],
      ["0.04", 120],
      ["0.25", 401],
      ["+Inf", 431],
    ]);
    expect(only(e, "vllm:time_to_first_token_seconds_sum").value).toBe(38.21);
    expect(only(e, "vllm:time_to_first_token_seconds_count").value).toBe(431);
  });

  it("reads info-style label sets and exponent values", () => {
    const cfg = only(e, "vllm:cache_config_info");
    expect(labelValue(cfg, "block_size")).toBe("16");
    expect(labelValue(cfg, "num_gpu_blocks")).toBe("27186");
    const lora = e.samples.get("vllm:lora_requests_info") ?? [];
    expect(lora.map((s) => s.value)).toEqual([1.7000000125e9, 1.6999999981e9]);
    expect(labelValue(lora[0] as Sample, "waiting_lora_adapters")).toBe("");
  });

  it("keeps only the names asked for, yet still counts (and checks) the rest", () => {
    const f = parsePrometheusText(`${FIXTURE}\ngarbage line\n`, {
      only: new Set(["vllm:num_requests_running", "vllm:absent"]),
    });
    expect([...f.samples.keys()]).toEqual(["vllm:num_requests_running"]);
    expect(f.sampleLines).toBe(27);
    expect(f.malformedLines).toBe(1);
  });
});

describe("parsePrometheusText: lines filtered out by `only`", () => {
  const only = new Set(["kept"]);

  it.each([
    ["a quoted } inside a value", 'other{a="}{",b="x"} 7'],
    ["escapes inside a value", 'other{a="say \\"hi\\" \\\\"} 7'],
    ["a label name the full check would reject", 'other{a:b="c"} 7'],
  ])("are delimited, not checked: %s", (_t, line) => {
    const e = parsePrometheusText(`${line}\nkept{a="1"} 2\n`, { only });
    expect([e.sampleLines, e.malformedLines]).toEqual([2, 0]);
    expect(e.samples.get("kept")?.map((s) => s.value)).toEqual([2]);
    expect(e.samples.has("other")).toBe(false);
  });

  it.each([
    ["an unterminated value", 'other{a="x} 7'],
    ["an unterminated label set", 'other{a="x" 7'],
    ["a bad value", 'other{a="x"} seven'],
    ["a trailing backslash", 'other{a="x\\'],
  ])("still count as malformed: %s", (_t, line) => {
    const e = parsePrometheusText(`${line}\nkept 2\n`, { only });
    expect([e.sampleLines, e.malformedLines]).toEqual([1, 1]);
  });

  // An unclosed quote ends at its line: each of these lines is refused on its own (a scan that ran on to the end of
  // the body from every such line would be quadratic). Speed is the scrape benchmark's business, not a timed assert.
  it("refuses each line of a body that never closes a quote on its own", () => {
    const body = 'other{a="x\n'.repeat(50_000) + "kept 2\n";
    const e = parsePrometheusText(body, { only });
    expect(e.malformedLines).toBe(50_000);
    expect(e.sampleLines).toBe(1);
  });
});

describe("parsePrometheusText: bounds", () => {
  it("stops at maxSamples and says so", () => {
    const body = Array.from({ length: 50 }, (_, i) => `a{i="${i}"} ${i}`).join("\n");
    const e = parsePrometheusText(body, { maxSamples: 10 });
    expect(e.samples.get("a")).toHaveLength(10);
    expect(e.truncated).toBe(true);
  });

  it("stops at maxLines (comments and blank lines count)", () => {
    const e = parsePrometheusText("# c\n\n# c\na 1\nb 2\n", { maxLines: 4 });
    expect([...e.samples.keys()]).toEqual(["a"]);
    expect(e.truncated).toBe(true);
  });

  it("is not truncated when the body ends exactly at the caps", () => {
    const e = parsePrometheusText("a 1\nb 2", { maxSamples: 2, maxLines: 2 });
    expect([e.sampleLines, e.truncated]).toEqual([2, false]);
  });

  it("caps a huge body at the default sample limit", () => {
    const body = "x 1\n".repeat(DEFAULT_MAX_SAMPLES + 5);
    const e = parsePrometheusText(body, { only: new Set() });
    expect(e.sampleLines).toBe(DEFAULT_MAX_SAMPLES);
    expect(e.truncated).toBe(true);
  });
});

describe("parsePrometheusText: OpenMetrics # EOF", () => {
  it("stops at # EOF and says whether anything followed", () => {
    const e = parsePrometheusText("a 1\n# EOF\na 2\nb 3\n");
    expect(e.samples.get("a")?.map((s) => s.value)).toEqual([1]);
    expect(e.samples.has("b")).toBe(false);
    expect([e.sampleLines, e.afterEof]).toEqual([1, true]);
  });

  it("is not after-eof when only blank lines (or nothing) follow, with or without CRLF", () => {
    expect(parsePrometheusText("a 1\n# EOF\n\n  \n").afterEof).toBe(false);
    expect(parsePrometheusText("a 1\r\n# EOF  \r\n").afterEof).toBe(false);
    expect(parsePrometheusText("a 1\n# EOF").afterEof).toBe(false);
  });

  it("treats other comments that start with EOF as comments", () => {
    const e = parsePrometheusText("# EOFX\na 1\n#EOF\nb 2\n");
    expect([e.sampleLines, e.afterEof, e.malformedLines]).toEqual([2, false, 0]);
  });
});
