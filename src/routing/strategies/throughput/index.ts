/**
 * `throughput`: prefer the pod with the most output throughput to spare for one more request, from kvroute's own
 * observations. AIBrix's version reads PromQL averages through a getter that always returns 0, so every pod ties
 * (or, without Prometheus, it picks at random); this one needs no Prometheus.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { minMax, NO_OBSERVATIONS } from "../signal-scores";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "throughput";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `throughput` (none). */
export type ThroughputParams = z.infer<typeof paramsSchema>;

/**
 * Output tokens per second a new request can expect on a pod: the observed per-request rate shared with what is
 * in flight, `outputTokensPerSecond / (inflight + 1)`; undefined without a rate observation. Dividing by the
 * in-flight count (reserved in the same step as each pick) keeps a fast pod from taking every request until its
 * next observation arrives.
 */
export function spareTokensPerSecond(
  outputTokensPerSecond: number | undefined,
  inflight: number,
): number | undefined {
  return outputTokensPerSecond === undefined ? undefined : outputTokensPerSecond / (inflight + 1);
}

/** Creates the (stateless) `throughput` strategy. */
export const factory: StrategyFactory<ThroughputParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "most-spare-throughput", abstainsWhen: [NO_OBSERVATIONS] } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["observations", "inflight"],
      /**
       * `score = (s − min) / (max − min)` over `s = spareTokensPerSecond(...)` (higher is better); all equal → 1;
       * a pod without a rate observation → 0. Abstains `no-observations` when no candidate has one.
       */
      score(ctx, pods) {
        const values = new Float64Array(pods.length);
        for (let i = 0; i < pods.length; i++) {
          const key = (pods[i] as Pod).key;
          const s = spareTokensPerSecond(ctx.observation(key)?.outputTokensPerSecond, ctx.load(key).requests);
          values[i] = s !== undefined && Number.isFinite(s) ? s : NaN;
        }
        const { scores, present } = minMax(values, "higher");
        if (pods.length > 0 && present === 0) return { t: "abstain", reason: NO_OBSERVATIONS };
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
