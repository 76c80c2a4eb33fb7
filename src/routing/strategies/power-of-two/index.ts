/**
 * `power-of-two`: the "power of two choices" balancer. Sample two distinct candidates at random and prefer the
 * one with fewer requests in flight. Sampling (rather than scanning for the global minimum) keeps herds of
 * replicas from all piling onto the same momentarily idle pod.
 *
 * @module
 */
import { z } from "zod";
import type { RoutingContext, Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "power-of-two";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `power-of-two` (none). */
export type PowerOfTwoParams = z.infer<typeof paramsSchema>;

/** Score of the winner of the two samples. */
export const WINNER_SCORE = 1;
/** Score of the loser of the two samples: above every unsampled pod, so a combined spec still prefers samples. */
export const RUNNER_UP_SCORE = 0.5;

/** Uniform index in [0, n), clamped against a source that returns exactly 1. */
function draw(ctx: RoutingContext, n: number): number {
  return Math.min(n - 1, Math.floor(ctx.random() * n));
}

/** Creates the (stateless) `power-of-two` strategy. */
export const factory: StrategyFactory<PowerOfTwoParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "fewest-inflight-of-two-sampled", abstainsWhen: [] } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["inflight", "random"],
      /**
       * Draw `a` then `b ≠ a` uniformly with `ctx.random()`. The one with fewer in-flight requests scores 1 (a tie
       * goes to `a`, the first drawn), the other 0.5, every other pod 0. A single candidate scores 1. Never
       * abstains.
       */
      score(ctx, pods) {
        const n = pods.length;
        const scores = new Float64Array(n);
        if (n === 1) {
          scores[0] = WINNER_SCORE;
          return { t: "scores", scores };
        }
        if (n === 0) return { t: "scores", scores };
        const a = draw(ctx, n);
        // Draw from the n − 1 others and skip over `a`: distinct and still uniform, with one random call.
        let b = draw(ctx, n - 1);
        if (b >= a) b++;
        const loadA = ctx.load((pods[a] as (typeof pods)[number]).key).requests;
        const loadB = ctx.load((pods[b] as (typeof pods)[number]).key).requests;
        const [winner, loser] = loadA <= loadB ? [a, b] : [b, a];
        scores[winner] = WINNER_SCORE;
        scores[loser] = RUNNER_UP_SCORE;
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
