/**
 * `least-request`: prefer the pod with the fewest requests in flight, as kvroute itself counts them (reserved in
 * the same step as each pick, so back-to-back decisions see each other).
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "least-request";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `least-request` (none). */
export type LeastRequestParams = z.infer<typeof paramsSchema>;

/** Creates the (stateless) `least-request` strategy. */
export const factory: StrategyFactory<LeastRequestParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "fewest-inflight", abstainsWhen: [] } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["inflight"],
      /**
       * `score = (max − x) / (max − min)` over in-flight request counts `x`: 1 for the least busy pod, 0 for the
       * busiest, and 1 for every pod when all counts are equal. Never abstains (no work in flight is a signal).
       */
      score(ctx, pods) {
        const inflight = new Float64Array(pods.length);
        let min = Infinity;
        let max = -Infinity;
        for (let i = 0; i < pods.length; i++) {
          const x = ctx.load((pods[i] as (typeof pods)[number]).key).requests;
          inflight[i] = x;
          if (x < min) min = x;
          if (x > max) max = x;
        }
        const scores = new Float64Array(pods.length);
        const range = max - min;
        for (let i = 0; i < scores.length; i++) {
          scores[i] = range > 0 ? (max - (inflight[i] as number)) / range : 1;
        }
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
