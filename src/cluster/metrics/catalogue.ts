/**
 * Which engine metric names feed which {@link EngineMetrics} field: vLLM v1, older vLLM (0.x, v0 engine), SGLang
 * and xLLM. Pure: one parsed scrape in, one EngineMetrics out.
 *
 * Rules, for every field:
 * - Each field has a list of candidate sample names. The **first name the engine exposes** (at least one series)
 *   is the source; the later names are fallbacks for other engines or versions.
 * - Several series of one name (one per DP engine, per model, per `finished_reason`) are **summed** for counts
 *   and counters, **averaged** for fractions.
 * - A value that is NaN, ±Infinity or negative makes the field **missing** (undefined), never 0. So does a
 *   fraction above 1. One bad series spoils the sum it belongs to, since a partial sum would be silently low.
 *
 * SGLang names were checked against `sgl-project/sglang` `python/sglang/srt/metrics/collector.py`
 * (`SchedulerMetricsCollector`: gauges `sglang:num_running_reqs`, `sglang:num_queue_reqs`, `sglang:token_usage`,
 * `sglang:utilization`; `TokenizerMetricsCollector`: counters `sglang:prompt_tokens_total`,
 * `sglang:generation_tokens_total`, `sglang:cached_tokens_total`, all labelled `model_name`) and its
 * `docs/references/production_metrics.md`. AIBrix's own catalogue (`pkg/metrics/metrics.go`) maps SGLang waiting
 * requests to `sglang:num_waiting_reqs`, a name SGLang does not export; we read `sglang:num_queue_reqs`.
 * xLLM names (`engine_utilization`, `kv_cache_utilization`, unprefixed) are those of AIBrix's catalogue.
 *
 * @module
 */
import type { EngineMetrics, LoraState, ModelLoad } from "../engine-metrics";
// From where it is defined: a re-export compiles (tsx, swc) to a getter, measured at ~10 % of a scrape's CPU.
import { labelValue } from "./exposition";
import type { Exposition, Sample } from "./exposition";

const RUNNING = ["vllm:num_requests_running", "sglang:num_running_reqs"] as const;
const WAITING = ["vllm:num_requests_waiting", "sglang:num_queue_reqs"] as const;
const KV_CACHE = [
  "vllm:kv_cache_usage_perc",
  "vllm:gpu_cache_usage_perc",
  "sglang:token_usage",
  "kv_cache_utilization",
] as const;
const GPU_CACHE = ["vllm:gpu_cache_usage_perc"] as const;
const UTILIZATION = ["engine_utilization"] as const;
/**
 * SGLang has no prefix-cache query/hit counters; it counts every prompt token (each one is looked up in the radix
 * cache) and the cached ones, which are the same quantities in vLLM's units (tokens queried, tokens hit).
 */
const PREFIX_QUERIES = [
  "vllm:prefix_cache_queries_total",
  "vllm:gpu_prefix_cache_queries_total",
  "sglang:prompt_tokens_total",
] as const;
const PREFIX_HITS = [
  "vllm:prefix_cache_hits_total",
  "vllm:gpu_prefix_cache_hits_total",
  "sglang:cached_tokens_total",
] as const;
const PROMPT_TOKENS = ["vllm:prompt_tokens_total", "sglang:prompt_tokens_total"] as const;
const GENERATION_TOKENS = ["vllm:generation_tokens_total", "sglang:generation_tokens_total"] as const;
const CACHE_CONFIG = "vllm:cache_config_info";
const LORA_INFO = "vllm:lora_requests_info";

/**
 * Every sample name the catalogue reads: pass it as `only` to `parsePrometheusText` so the parser allocates
 * nothing for the rest (histogram buckets are most of a vLLM body).
 */
export const CATALOGUE_SAMPLE_NAMES: ReadonlySet<string> = new Set<string>([
  ...RUNNING,
  ...WAITING,
  ...KV_CACHE,
  ...GPU_CACHE,
  ...UTILIZATION,
  ...PREFIX_QUERIES,
  ...PREFIX_HITS,
  ...PROMPT_TOKENS,
  ...GENERATION_TOKENS,
  CACHE_CONFIG,
  LORA_INFO,
]);

/** Label values that mean "no model": AIBrix falls back to the pod's model label for these. */
const NO_MODEL: ReadonlySet<string> = new Set(["", "undefined"]);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Samples = Exposition["samples"];

/**
 * Map one parsed scrape onto {@link EngineMetrics}. `scrapedAtMs` is stored as given (the scraper's monotonic
 * clock). Fields the engine does not report, or reports as NaN or negative, are left out. Never throws.
 */
export function engineMetricsFromText(families: Exposition, scrapedAtMs: number): EngineMetrics {
  const s = families.samples;
  const running = source(s, RUNNING);
  const waiting = source(s, WAITING);
  const kv = fraction(source(s, KV_CACHE));
  const gpuSource = source(s, GPU_CACHE);
  const m: Mutable<EngineMetrics> = { scrapedAtMs, byModel: byModel(running, waiting) };
  assign(m, "requestsRunning", count(running));
  assign(m, "requestsWaiting", count(waiting));
  assign(m, "kvCacheUsage", kv);
  assign(m, "gpuCacheUsage", gpuSource ? fraction(gpuSource) : kv);
  assign(m, "utilization", fraction(source(s, UTILIZATION)));
  assign(m, "prefixCacheQueriesTotal", count(source(s, PREFIX_QUERIES)));
  assign(m, "prefixCacheHitsTotal", count(source(s, PREFIX_HITS)));
  assign(m, "promptTokensTotal", count(source(s, PROMPT_TOKENS)));
  assign(m, "generationTokensTotal", count(source(s, GENERATION_TOKENS)));
  const config = s.get(CACHE_CONFIG);
  if (config) {
    assign(m, "blockSize", firstIntegerLabel(config, "block_size", 1));
    assign(m, "numGpuBlocks", firstIntegerLabel(config, "num_gpu_blocks", 0));
  }
  const lora = loraState(s.get(LORA_INFO));
  if (lora) m.lora = lora;
  return m;
}

function assign<K extends keyof EngineMetrics>(m: Mutable<EngineMetrics>, k: K, v: EngineMetrics[K]): void {
  if (v !== undefined) m[k] = v;
}

/**
 * The series of the first candidate name the exposition has. A name present with no series (its samples were
 * dropped as stale, see `interpret-body.ts`) is the source and makes the field missing: falling back to another
 * name would mix an engine's current figures with a different metric.
 */
function source(s: Samples, names: readonly string[]): readonly Sample[] | undefined {
  for (const n of names) {
    const series = s.get(n);
    if (series) return series.length > 0 ? series : undefined;
  }
  return undefined;
}

const valid = (v: number): boolean => Number.isFinite(v) && v >= 0;

/** Sum of every series; undefined when there is none or any is NaN, infinite or negative. */
function count(series: readonly Sample[] | undefined): number | undefined {
  if (!series || series.length === 0) return undefined;
  let sum = 0;
  for (const x of series) {
    if (!valid(x.value)) return undefined;
    sum += x.value;
  }
  return sum;
}

/** Mean of every series, in [0, 1]; undefined when there is none or any is invalid or above 1. */
function fraction(series: readonly Sample[] | undefined): number | undefined {
  const sum = count(series);
  if (sum === undefined || !series) return undefined;
  const mean = sum / series.length;
  // Tolerate float noise just above 1 (a full cache computed as used / total).
  if (mean > 1 + 1e-9) return undefined;
  return Math.min(mean, 1);
}

/** Per-model sums of `series` by `model_name`; a model with an invalid series maps to undefined. */
function sumByModel(series: readonly Sample[] | undefined): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  if (!series) return out;
  for (const x of series) {
    const model = labelValue(x, "model_name");
    if (model === undefined || NO_MODEL.has(model)) continue;
    const prev = out.has(model) ? out.get(model) : 0;
    out.set(model, prev === undefined || !valid(x.value) ? undefined : prev + x.value);
  }
  return out;
}

/** Requests running and waiting per `model_name` label value. */
function byModel(
  running: readonly Sample[] | undefined,
  waiting: readonly Sample[] | undefined,
): ReadonlyMap<string, ModelLoad> {
  const r = sumByModel(running);
  const w = sumByModel(waiting);
  const out = new Map<string, ModelLoad>();
  for (const model of new Set([...r.keys(), ...w.keys()])) {
    const load: Mutable<ModelLoad> = {};
    const rv = r.get(model);
    const wv = w.get(model);
    if (rv !== undefined) load.requestsRunning = rv;
    if (wv !== undefined) load.requestsWaiting = wv;
    out.set(detach(model), load);
  }
  return out;
}

/** The first series' label `name` as an integer ≥ `min`; undefined when no series carries a usable one. */
function firstIntegerLabel(series: readonly Sample[], name: string, min: number): number | undefined {
  for (const x of series) {
    const n = integer(labelValue(x, name));
    if (n !== undefined && n >= min) return n;
  }
  return undefined;
}

/** A decimal integer label value (vLLM writes e.g. `"16"`; `"None"` before the cache is sized). */
function integer(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/**
 * Most names kept of one adapter list. vLLM lists the adapters on the GPU (bounded by `max_loras`, a few dozen at
 * most in practice); a pod listing more is broken or hostile, and every routing decision for a LoRA request scans
 * each pod's lists (`loraTier`), so a list of 10⁶ names would cost that decision ~200 ms per pod. Past the bound
 * the later names are dropped.
 */
export const MAX_LISTED_ADAPTERS = 256;

/** Comma-separated adapter names, empty entries dropped, the first {@link MAX_LISTED_ADAPTERS} kept. */
function adapters(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  let from = 0;
  while (from <= text.length && out.length < MAX_LISTED_ADAPTERS) {
    let comma = text.indexOf(",", from);
    if (comma === -1) comma = text.length;
    const name = text.slice(from, comma).trim();
    if (name) out.push(detach(name));
    from = comma + 1;
  }
  return out;
}

/**
 * LoRA state from `vllm:lora_requests_info`: every label combination ever seen stays exported, and the value is
 * the Unix time it was last set, so the current state is the series with the greatest finite value.
 */
function loraState(series: readonly Sample[] | undefined): LoraState | undefined {
  let best: Sample | undefined;
  for (const x of series ?? []) if (Number.isFinite(x.value) && (!best || x.value > best.value)) best = x;
  if (!best) return undefined;
  const maxLora = integer(labelValue(best, "max_lora"));
  const state: Mutable<LoraState> = {
    running: adapters(labelValue(best, "running_lora_adapters")),
    waiting: adapters(labelValue(best, "waiting_lora_adapters")),
  };
  if (maxLora !== undefined) state.maxLora = maxLora;
  return state;
}

/**
 * A copy of `s` that does not point into the scrape body. V8 makes substrings of 13+ characters "sliced strings"
 * that keep their whole parent alive; names kept in the store would otherwise pin each pod's last body.
 */
function detach(s: string): string {
  return s.length < 13 ? s : (" " + s).slice(1);
}
