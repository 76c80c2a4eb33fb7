/**
 * `least-kv-cache`: prefer the pod whose KV cache is least full, from the engine's own gauge (vLLM v1
 * `kv_cache_usage_perc`, older vLLM `gpu_cache_usage_perc`, SGLang `token_usage`). Unlike AIBrix it does not add
 * `cpu_cache_usage_perc`, which vLLM v1 no longer exports (AIBrix then skips every pod and picks at random).
 *
 * @module
 */
import type { z } from "zod";
import { lowestMetricFactory, METRIC_NOT_REPORTED, METRICS_MISSING, noParams } from "../signal-scores";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "least-kv-cache";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = noParams;

/** Params of `least-kv-cache` (none). */
export type LeastKvCacheParams = z.infer<typeof paramsSchema>;

/**
 * Creates the (stateless) `least-kv-cache` strategy: `score = (max − u) / (max − min)` over `u = kvCacheUsage`.
 * All equal → 1; a pod without the figure → 0. Abstains `metrics-missing` (no candidate has fresh metrics) or
 * `metric-not-reported` (none of those that do reports the figure).
 */
export const contract: StrategyContract = {
  ranksBy: "lowest-kv-cache",
  abstainsWhen: [METRICS_MISSING, METRIC_NOT_REPORTED],
};

export const factory = { ...lowestMetricFactory(TYPE, (m) => m.kvCacheUsage), contract };
