/**
 * The pod's Prometheus `/metrics`, in vLLM v1's names and format (`vllm/v1/metrics/loggers.py`): gauges and
 * counters read from the engine at scrape time, latency histograms observed by the server,
 * `cache_config_info` carrying the cache geometry as labels. Written by hand (not prom-client) so the text is
 * exactly what vLLM's `prometheus_client` prints: `vllm:` names, `_total` counters, labels sorted by name,
 * float values (`3.0`).
 *
 * @module
 */
import type { SimEngineStats } from "../engine/types";

/** vLLM's buckets (`vllm/v1/metrics/loggers.py`). */
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
  80.0, 160.0, 640.0, 2560.0,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const E2E_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
  960.0, 1920.0, 7680.0,
];

/** Why a request finished, as vLLM labels `request_success_total`. */
export type FinishedReason = "stop" | "length" | "abort";

/** A cumulative histogram. */
class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (seconds <= (this.buckets[i] as number)) this.counts[i] = (this.counts[i] ?? 0) + 1;
    }
  }
  lines(name: string, labels: Labels): string[] {
    const out = this.buckets.map((le, i) =>
      sample(`${name}_bucket`, { ...labels, le: num(le) }, this.counts[i] ?? 0),
    );
    out.push(sample(`${name}_bucket`, { ...labels, le: "+Inf" }, this.count));
    out.push(sample(`${name}_count`, labels, this.count));
    out.push(sample(`${name}_sum`, labels, this.sum));
    return out;
  }
}

type Labels = Readonly<Record<string, string>>;

/** prometheus_client prints Python floats: integers keep a `.0`. */
function num(v: number): string {
  if (Number.isInteger(v)) return `${v}.0`;
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function sample(name: string, labels: Labels, value: number): string {
  const set = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`)
    .join(",");
  return `${name}{${set}} ${num(value)}`;
}

function family(name: string, type: string, help: string, lines: string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines];
}

/** Per-pod request-level metrics (the engine supplies the rest at scrape time). */
export class PodMetrics {
  private readonly ttft = new Histogram(TTFT_BUCKETS);
  private readonly itl = new Histogram(ITL_BUCKETS);
  private readonly e2e = new Histogram(E2E_BUCKETS);
  private readonly finished: Record<FinishedReason, number> = { stop: 0, length: 0, abort: 0 };
  private readonly labels: Labels;

  constructor(readonly modelName: string) {
    this.labels = { engine: "0", model_name: modelName };
  }

  observeTtft(seconds: number): void {
    this.ttft.observe(seconds);
  }
  observeInterToken(seconds: number): void {
    this.itl.observe(seconds);
  }
  /** A request ended: its reason and end-to-end latency (aborts are counted but not timed, as in vLLM). */
  finish(reason: FinishedReason, e2eSeconds: number | undefined): void {
    this.finished[reason]++;
    if (e2eSeconds !== undefined) this.e2e.observe(e2eSeconds);
  }

  /** The exposition text for the engine's current `stats`. */
  render(s: SimEngineStats): string {
    const l = this.labels;
    const g = (name: string, help: string, v: number): string[] =>
      family(`vllm:${name}`, "gauge", help, [sample(`vllm:${name}`, l, v)]);
    const c = (name: string, help: string, v: number): string[] =>
      family(`vllm:${name}`, "counter", help, [sample(`vllm:${name}_total`, l, v)]);
    const reasons = (Object.keys(this.finished) as FinishedReason[]).map((r) =>
      sample("vllm:request_success_total", { ...l, finished_reason: r }, this.finished[r]),
    );
    const cacheConfig = {
      block_size: String(s.blockSize),
      cache_dtype: "auto",
      enable_prefix_caching: "True",
      engine: "0",
      gpu_memory_utilization: "0.9",
      num_gpu_blocks: String(s.numGpuBlocks),
      prefix_caching_hash_algo: "sha256_cbor",
    };
    return [
      ...g("num_requests_running", "Number of requests in model execution batches.", s.running),
      ...g("num_requests_waiting", "Number of requests waiting to be processed.", s.waiting),
      ...g("kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", s.kvUsage),
      ...c(
        "prefix_cache_queries",
        "Prefix cache queries, in terms of number of queried tokens.",
        s.prefixQueriedTokens,
      ),
      ...c("prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", s.prefixHitTokens),
      ...c("num_preemptions", "Cumulative number of preemption from the engine.", s.preemptions),
      ...c("prompt_tokens", "Number of prefill tokens processed.", s.promptTokens),
      ...c("generation_tokens", "Number of generation tokens processed.", s.generationTokens),
      ...family("vllm:request_success", "counter", "Count of successfully processed requests.", reasons),
      ...family(
        "vllm:time_to_first_token_seconds",
        "histogram",
        "Histogram of time to first token in seconds.",
        this.ttft.lines("vllm:time_to_first_token_seconds", l),
      ),
      ...family(
        "vllm:inter_token_latency_seconds",
        "histogram",
        "Histogram of inter-token latency in seconds.",
        this.itl.lines("vllm:inter_token_latency_seconds", l),
      ),
      ...family(
        "vllm:e2e_request_latency_seconds",
        "histogram",
        "Histogram of e2e request latency in seconds.",
        this.e2e.lines("vllm:e2e_request_latency_seconds", l),
      ),
      ...family("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig", [
        sample("vllm:cache_config_info", cacheConfig, 1),
      ]),
      "",
    ].join("\n");
  }
}
