/**
 * `random`: every candidate gets an independent uniform score, so alone it picks uniformly at random and in a
 * weighted spec (`least-request:3,random`) it adds jitter that breaks up herds.
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "random";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `random` (none). */
export type RandomParams = z.infer<typeof paramsSchema>;

/** Creates the (stateless) `random` strategy. */
export const factory: StrategyFactory<RandomParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "random", abstainsWhen: [] } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["random"],
      /** Scores are `ctx.random()` per pod: in [0, 1), never abstains. */
      score(ctx, pods) {
        const scores = new Float64Array(pods.length);
        for (let i = 0; i < scores.length; i++) scores[i] = ctx.random();
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
