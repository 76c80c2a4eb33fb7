import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import { CATALOGUE_SAMPLE_NAMES, engineMetricsFromText } from "../../../src/cluster/metrics/catalogue";
import { parsePrometheusText } from "../../../src/cluster/metrics/prometheus-text";

const FIXTURE = readFileSync(join(__dirname, "fixtures", "vllm-metrics.txt"), "utf8");
const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
const AT = 12_345.5;

/** Parse `text` the way the scraper does (catalogue names only) and map it. */
function metrics(text: string): EngineMetrics {
  return engineMetricsFromText(parsePrometheusText(text, { only: CATALOGUE_SAMPLE_NAMES }), AT);
}

/** EngineMetrics as a plain object (byModel as an object) for toEqual. */
function plain(m: EngineMetrics): Record<string, unknown> {
  return { ...m, byModel: Object.fromEntries(m.byModel) };
}

describe("engineMetricsFromText: the vLLM v1 fixture", () => {
  it("maps every field exactly", () => {
    expect(plain(metrics(FIXTURE))).toEqual({
      scrapedAtMs: AT,
      requestsRunning: 3,
      requestsWaiting: 1,
      kvCacheUsage: 0.4273,
      gpuCacheUsage: 0.4273,
      prefixCacheQueriesTotal: 981234,
      prefixCacheHitsTotal: 512000,
      promptTokensTotal: 469234,
      generationTokensTotal: 88120,
      blockSize: 16,
      numGpuBlocks: 27186,
      lora: { running: ["sql-lora"], waiting: [], maxLora: 4 },
      byModel: { [LLAMA]: { requestsRunning: 3, requestsWaiting: 1 } },
    });
  });

  it("gives the same result when the parser keeps every family", () => {
    expect(plain(engineMetricsFromText(parsePrometheusText(FIXTURE), AT))).toEqual(plain(metrics(FIXTURE)));
  });

  it("leaves out utilization (vLLM reports none)", () => {
    expect("utilization" in metrics(FIXTURE)).toBe(false);
  });
});

describe("engineMetricsFromText: name variants", () => {
  it("older vLLM: gpu_cache_usage_perc and gpu_prefix_cache_* counters", () => {
    const m = metrics(
      [
        'vllm:num_requests_running{model_name="m"} 2.0',
        'vllm:num_requests_waiting{model_name="m"} 0.0',
        'vllm:gpu_cache_usage_perc{model_name="m"} 0.5',
        'vllm:gpu_prefix_cache_queries_total{model_name="m"} 100.0',
        'vllm:gpu_prefix_cache_hits_total{model_name="m"} 40.0',
      ].join("\n"),
    );
    expect(plain(m)).toEqual({
      scrapedAtMs: AT,
      requestsRunning: 2,
      requestsWaiting: 0,
      kvCacheUsage: 0.5,
      gpuCacheUsage: 0.5,
      prefixCacheQueriesTotal: 100,
      prefixCacheHitsTotal: 40,
      byModel: { m: { requestsRunning: 2, requestsWaiting: 0 } },
    });
  });

  it("vLLM 0.9, both cache names: kv from kv_cache_usage_perc, gpu from gpu_cache_usage_perc", () => {
    const m = metrics("vllm:kv_cache_usage_perc 0.25\nvllm:gpu_cache_usage_perc 0.3\n");
    expect([m.kvCacheUsage, m.gpuCacheUsage]).toEqual([0.25, 0.3]);
  });

  it("SGLang (names from sglang's metrics collector)", () => {
    const l = 'model_name="qwen",engine_type="unified",tp_rank="0",pp_rank="0"';
    const m = metrics(
      [
        "# TYPE sglang:num_running_reqs gauge",
        `sglang:num_running_reqs{${l}} 7.0`,
        `sglang:num_queue_reqs{${l}} 2.0`,
        `sglang:token_usage{${l}} 0.28`,
        `sglang:prompt_tokens_total{${l}} 8.128902e+06`,
        `sglang:generation_tokens_total{${l}} 7.557572e+06`,
        `sglang:cached_tokens_total{${l}} 4.0e+06`,
        `sglang:cache_hit_rate{${l}} 0.0075`,
      ].join("\n"),
    );
    expect(plain(m)).toEqual({
      scrapedAtMs: AT,
      requestsRunning: 7,
      requestsWaiting: 2,
      kvCacheUsage: 0.28,
      gpuCacheUsage: 0.28,
      prefixCacheQueriesTotal: 8128902,
      prefixCacheHitsTotal: 4e6,
      promptTokensTotal: 8128902,
      generationTokensTotal: 7557572,
      byModel: { qwen: { requestsRunning: 7, requestsWaiting: 2 } },
    });
  });

  it("xLLM: engine_utilization and kv_cache_utilization", () => {
    const m = metrics("engine_utilization 0.6\nkv_cache_utilization 0.1\n");
    expect([m.utilization, m.kvCacheUsage, m.gpuCacheUsage]).toEqual([0.6, 0.1, 0.1]);
  });

  it("a body from no known engine maps to nothing but the timestamp", () => {
    expect(plain(metrics("process_cpu_seconds_total 12\nup 1\n"))).toEqual({ scrapedAtMs: AT, byModel: {} });
  });

  it("the first exposed name wins even when a later one is present", () => {
    const m = metrics("vllm:num_requests_running 1\nsglang:num_running_reqs 9\n");
    expect(m.requestsRunning).toBe(1);
  });
});

describe("engineMetricsFromText: several series", () => {
  it("sums counts and counters across DP engines and averages fractions", () => {
    const m = metrics(
      [
        'vllm:num_requests_running{engine="0",model_name="m"} 2',
        'vllm:num_requests_running{engine="1",model_name="m"} 3',
        'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2',
        'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6',
        'vllm:prompt_tokens_total{engine="0",model_name="m"} 10',
        'vllm:prompt_tokens_total{engine="1",model_name="m"} 15',
      ].join("\n"),
    );
    expect(m.requestsRunning).toBe(5);
    expect(m.kvCacheUsage).toBeCloseTo(0.4, 12);
    expect(m.promptTokensTotal).toBe(25);
    expect(Object.fromEntries(m.byModel)).toEqual({ m: { requestsRunning: 5 } });
  });

  it("splits per model_name and skips series without a usable model name", () => {
    const m = metrics(
      [
        'vllm:num_requests_running{model_name="a"} 1',
        'vllm:num_requests_running{model_name="b"} 4',
        'vllm:num_requests_running{model_name="a"} 2',
        'vllm:num_requests_running{model_name=""} 8',
        'vllm:num_requests_running{model_name="undefined"} 16',
        "vllm:num_requests_running 32",
        'vllm:num_requests_waiting{model_name="c"} 5',
      ].join("\n"),
    );
    expect(m.requestsRunning).toBe(63);
    expect(Object.fromEntries(m.byModel)).toEqual({
      a: { requestsRunning: 3 },
      b: { requestsRunning: 4 },
      c: { requestsWaiting: 5 },
    });
  });
});

describe("engineMetricsFromText: missing is undefined, never 0", () => {
  it.each([
    ["NaN gauge", "vllm:num_requests_running NaN", "requestsRunning"],
    ["negative gauge", "vllm:num_requests_waiting -1", "requestsWaiting"],
    ["infinite gauge", "vllm:num_requests_running +Inf", "requestsRunning"],
    ["NaN counter", "vllm:prefix_cache_hits_total NaN", "prefixCacheHitsTotal"],
    ["negative counter", "vllm:generation_tokens_total -3", "generationTokensTotal"],
    ["fraction above 1", "vllm:kv_cache_usage_perc 1.5", "kvCacheUsage"],
    ["NaN fraction", "vllm:kv_cache_usage_perc NaN", "kvCacheUsage"],
    ["negative utilization", "engine_utilization -0.1", "utilization"],
  ] as const)("%s", (_t, line, field) => {
    const m = metrics(`${line}\n`);
    expect(field in m).toBe(false);
    expect(m[field]).toBeUndefined();
  });

  it("one bad series spoils the pod sum but only its own model", () => {
    const m = metrics(
      'vllm:num_requests_running{model_name="a"} NaN\nvllm:num_requests_running{model_name="b"} 2\n',
    );
    expect(m.requestsRunning).toBeUndefined();
    expect(Object.fromEntries(m.byModel)).toEqual({ a: {}, b: { requestsRunning: 2 } });
  });

  it("a bad first source is missing rather than replaced by a fallback", () => {
    const m = metrics("vllm:kv_cache_usage_perc NaN\nvllm:gpu_cache_usage_perc 0.4\n");
    expect(m.kvCacheUsage).toBeUndefined();
    expect(m.gpuCacheUsage).toBe(0.4);
  });

  it("keeps a real zero", () => {
    const m = metrics("vllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0\n");
    expect([m.requestsRunning, m.kvCacheUsage]).toEqual([0, 0]);
  });

  it("tolerates float noise just above 1", () => {
    expect(metrics("vllm:kv_cache_usage_perc 1.0000000001\n").kvCacheUsage).toBe(1);
  });
});

describe("engineMetricsFromText: cache_config_info", () => {
  it.each([
    ['block_size="32",num_gpu_blocks="100"', 32, 100],
    ['block_size="16",num_gpu_blocks="None"', 16, undefined],
    ['block_size="0",num_gpu_blocks="0"', undefined, 0],
    ['block_size="16.5",num_gpu_blocks="-1"', undefined, undefined],
    ['cache_dtype="auto"', undefined, undefined],
  ])("%s", (labels, blockSize, numGpuBlocks) => {
    const m = metrics(`vllm:cache_config_info{${labels}} 1.0\n`);
    expect([m.blockSize, m.numGpuBlocks]).toEqual([blockSize, numGpuBlocks]);
  });

  it("takes the first series that carries a usable value", () => {
    const m = metrics(
      'vllm:cache_config_info{engine="0",num_gpu_blocks="None"} 1\n' +
        'vllm:cache_config_info{engine="1",block_size="16",num_gpu_blocks="500"} 1\n',
    );
    expect([m.blockSize, m.numGpuBlocks]).toEqual([16, 500]);
  });
});

describe("engineMetricsFromText: lora_requests_info", () => {
  const line = (running: string, waiting: string, value: string, max = "8"): string =>
    `vllm:lora_requests_info{max_lora="${max}",running_lora_adapters="${running}",waiting_lora_adapters="${waiting}"} ${value}`;

  it("takes the series with the greatest timestamp value, wherever it is", () => {
    const m = metrics(
      [line("old", "", "1.7e9"), line("a,b", "c", "1.7000000500e+09"), line("", "", "1.6e9")].join("\n"),
    );
    expect(m.lora).toEqual({ running: ["a", "b"], waiting: ["c"], maxLora: 8 });
  });

  it("splits on commas, trims, and drops empty names", () => {
    expect(metrics(line(" a , ,b,", ",", "1")).lora).toEqual({
      running: ["a", "b"],
      waiting: [],
      maxLora: 8,
    });
  });

  it("leaves maxLora out when it is not an integer, and ignores NaN series", () => {
    const m = metrics([line("x", "", "NaN"), line("y", "", "5", "many")].join("\n"));
    expect(m.lora).toEqual({ running: ["y"], waiting: [] });
  });

  it("is undefined without the family", () => {
    expect(metrics("vllm:num_requests_running 1\n").lora).toBeUndefined();
  });
});
