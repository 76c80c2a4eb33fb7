/**
 * From a body to EngineMetrics, refusing what would mislead routing: a page cut by the sample cap, samples older
 * than the staleness bound by their own timestamps, data after `# EOF`. Pure: the wall clock is injected.
 */
import { DEFAULT_MAX_SAMPLES } from "../../../src/cluster/metrics/prometheus-text";
import { interpretMetricsBody, parseProblemCounts } from "../../../src/cluster/metrics/interpret-body";

const NOW = 1_800_000_000_000;
const fresh = { wallNowMs: NOW, staleAfterMs: 500 };

/** Two DP engines' KV usage, with `filler` unrelated sample lines between them. */
function twoEngines(filler: number): string {
  return (
    'vllm:kv_cache_usage_perc{engine="0"} 0.9\n' +
    "filler_metric 1\n".repeat(filler) +
    'vllm:kv_cache_usage_perc{engine="1"} 0.1\n'
  );
}

describe("interpretMetricsBody", () => {
  it("averages both engines of a complete page", () => {
    const r = interpretMetricsBody(twoEngines(10), 7, fresh);
    expect(r.t === "ok" && r.metrics.kvCacheUsage).toBeCloseTo(0.5);
  });

  it("refuses a page cut by the sample cap instead of taking one engine's value as the mean", () => {
    const r = interpretMetricsBody(twoEngines(DEFAULT_MAX_SAMPLES), 7, fresh);
    expect(r.t).toBe("malformed");
    expect(r.t === "malformed" && r.detail).toMatch(/cut at \d+ samples/);
    expect(r.problems.truncated).toBe(true);
    expect(parseProblemCounts(r.problems)).toEqual([["truncated", 1]]);
  });

  it("treats a name with a sample older than the staleness bound as missing, without falling back", () => {
    const body =
      `vllm:num_requests_running{engine="0"} 3 ${NOW - 100}\n` +
      `vllm:num_requests_running{engine="1"} 4 ${NOW - 501}\n` +
      // A fallback name for the same field: must not stand in for the stale vLLM one.
      "sglang:num_running_reqs 9\n" +
      `vllm:num_requests_waiting 2 ${NOW - 500}\n`;
    const r = interpretMetricsBody(body, 7, fresh);
    if (r.t !== "ok") throw new Error(r.detail);
    expect(r.metrics.requestsRunning).toBeUndefined();
    expect(r.metrics.requestsWaiting).toBe(2); // exactly at the bound is still fresh
    expect(r.problems.staleSamples).toBe(1);
    expect(parseProblemCounts(r.problems)).toEqual([["stale-sample", 1]]);
  });

  it("ignores sample timestamps when no freshness is given", () => {
    const r = interpretMetricsBody(`vllm:num_requests_running 3 ${NOW - 10_000}\n`, 7);
    expect(r.t === "ok" && r.metrics.requestsRunning).toBe(3);
  });

  it("does not read data after # EOF, and reports it", () => {
    const r = interpretMetricsBody(
      "vllm:num_requests_running 3\n# EOF\nvllm:num_requests_running 99\n",
      7,
      fresh,
    );
    expect(r.t === "ok" && r.metrics.requestsRunning).toBe(3);
    expect(parseProblemCounts(r.problems)).toEqual([["after-eof", 1]]);
  });

  it("counts malformed lines", () => {
    const r = interpretMetricsBody("vllm:num_requests_running 3\nnot a sample line\n", 7, fresh);
    expect(parseProblemCounts(r.problems)).toEqual([["malformed-line", 1]]);
  });
});
