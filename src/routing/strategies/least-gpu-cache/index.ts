/**
 * `least-gpu-cache`: prefer the pod whose GPU KV-cache is least full, from `gpuCacheUsage` (older vLLM
 * `gpu_cache_usage_perc` when reported, else the same gauge as `least-kv-cache`: vLLM v1 deprecated the name).
 *
 * @module
 */
import type { z } from "zod";
import { lowestMetricFactory, METRIC_NOT_REPORTED, METRICS_MISSING, noParams } from "../signal-scores";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "least-gpu-cache";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = noParams;

/** Params of `least-gpu-cache` (none). */
export type LeastGpuCacheParams = z.infer<typeof paramsSchema>;

/**
 * Creates the (stateless) `least-gpu-cache` strategy: `score = (max − u) / (max − min)` over `u = gpuCacheUsage`.
 * All equal → 1; a pod without the figure → 0. Abstains `metrics-missing` (no candidate has fresh metrics) or
 * `metric-not-reported` (none of those that do reports the figure).
 */
export const contract: StrategyContract = {
  ranksBy: "lowest-gpu-cache",
  abstainsWhen: [METRICS_MISSING, METRIC_NOT_REPORTED],
};

export const factory = { ...lowestMetricFactory(TYPE, (m) => m.gpuCacheUsage), contract };
