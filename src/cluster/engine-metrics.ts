/**
 * What one scrape of an engine's `/metrics` says, in kvroute's own names and units. Every field is optional:
 * missing means the engine did not report it (never 0). Staleness is decided by the store that hands these out,
 * so a strategy only ever sees a snapshot that is fresh.
 *
 * @module
 */

/** Per-model figures from series carrying a `model_name` label. */
export interface ModelLoad {
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
}

/** LoRA state from `vllm:lora_requests_info`. */
export interface LoraState {
  /** Adapters with requests running. */
  readonly running: readonly string[];
  /** Adapters with requests waiting. */
  readonly waiting: readonly string[];
  /** Most adapters the engine holds at once (`max_lora`); undefined when not reported. */
  readonly maxLora?: number;
}

/** One engine's metrics from one successful scrape. */
export interface EngineMetrics {
  /** When the scrape finished, on the scraper's monotonic clock (ms). */
  readonly scrapedAtMs: number;
  /** Requests in the engine's running batch (vLLM `num_requests_running`, SGLang `num_running_reqs`). */
  readonly requestsRunning?: number;
  /** Requests queued in the engine (vLLM `num_requests_waiting`, SGLang `num_queue_reqs`). */
  readonly requestsWaiting?: number;
  /**
   * KV-cache usage in [0, 1]: vLLM v1 `kv_cache_usage_perc`, else older vLLM `gpu_cache_usage_perc`, else SGLang
   * `token_usage`.
   */
  readonly kvCacheUsage?: number;
  /** Older vLLM `gpu_cache_usage_perc` in [0, 1] when reported, else the same source as `kvCacheUsage`. */
  readonly gpuCacheUsage?: number;
  /** Engine utilization in [0, 1] where the engine reports one (xLLM `engine_utilization`). */
  readonly utilization?: number;
  /** Counters since engine start. */
  readonly prefixCacheQueriesTotal?: number;
  readonly prefixCacheHitsTotal?: number;
  readonly promptTokensTotal?: number;
  readonly generationTokensTotal?: number;
  /** From `vllm:cache_config_info`. */
  readonly blockSize?: number;
  readonly numGpuBlocks?: number;
  readonly lora?: LoraState;
  /** Figures per `model_name` label value. */
  readonly byModel: ReadonlyMap<string, ModelLoad>;
}

/** Read access to the freshest metrics of each pod. */
export interface EngineMetricsView {
  /** The pod's metrics if its last good scrape is within the staleness bound; undefined when missing or stale. */
  fresh(podKey: string): EngineMetrics | undefined;
}
