/**
 * `prefix-cache-and-load` (kvroute's own): trade the prompt's cache hit on each pod against the work already
 * waiting there, in one score, instead of AIBrix's hard imbalance/σ cut-offs.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { createMatchMemo, matchPrefix, recordRouted } from "../prefix-cache/match";

/** Registered type name. */
export const TYPE = "prefix-cache-and-load";

/** Params (all optional; unknown keys fail startup). */
export const paramsSchema = z.strictObject({
  /** α: weight of the prefix hit fraction (a locality bonus, in prompt lengths of load it may outweigh). */
  alpha: z.number().min(0).default(1),
  /** β: weight of the load (in prompt lengths of prefill work). */
  beta: z.number().min(0).default(1),
  /** Prompt lengths of load each request in the engine's waiting queue counts as (fresh metrics only). */
  waitingWeight: z.number().min(0).default(0.5),
  /** Prompt lengths of load a full KV cache counts as (scaled by `kvCacheUsage`, fresh metrics only). */
  kvWeight: z.number().min(0).default(1),
});

/** Params of `prefix-cache-and-load`. */
export type PrefixCacheAndLoadParams = z.infer<typeof paramsSchema>;

/** Creates the `prefix-cache-and-load` strategy over `deps.prefix` (abstains `no-prefix-index` without it). */
export const factory: StrategyFactory<PrefixCacheAndLoadParams> = {
  type: TYPE,
  paramsSchema,
  contract: {
    ranksBy: "most-prefix-blocks",
    abstainsWhen: ["no-prefix-index", "no-tokens"],
  } satisfies StrategyContract,
  create(params, deps) {
    const prefix = deps.prefix;
    const memo = createMatchMemo();
    const { alpha, beta, waitingWeight, kvWeight } = params;
    return {
      type: TYPE,
      reads: ["prefix", "inflight-tokens", "engine-metrics"],

      /**
       * With `T` the prompt's token count and `h` the pod's hit fraction (as in `prefix-cache`):
       * `load = (inflightTokens + T·(1 − h)) / T + waitingWeight·requestsWaiting + kvWeight·kvCacheUsage`,
       * `raw = α·h − β·load`, then `score = (raw − min raw) / (max raw − min raw)` over the candidates (all equal
       * → 1). Abstains `no-prefix-index` or `no-tokens` only: with no match anywhere it still ranks by load.
       */
      score(ctx, pods) {
        const m = memo.keep(ctx, pods, matchPrefix(ctx, pods, prefix));
        if (m.t === "abstain") return m;
        const tokens = (ctx.prompt.tokens as Uint32Array).length;
        const raw = new Float64Array(pods.length);
        let min = Infinity;
        let max = -Infinity;
        for (let i = 0; i < pods.length; i++) {
          const key = (pods[i] as Pod).key;
          const h = m.fractions[i] as number;
          let load = (ctx.load(key).tokens + tokens * (1 - h)) / tokens;
          const metrics = ctx.metrics(key);
          if (metrics) {
            const waiting = metrics.requestsWaiting;
            if (waiting !== undefined && Number.isFinite(waiting) && waiting > 0)
              load += waitingWeight * waiting;
            const kv = metrics.kvCacheUsage;
            if (kv !== undefined && Number.isFinite(kv)) load += kvWeight * Math.min(1, Math.max(0, kv));
          }
          const r = alpha * h - beta * load;
          raw[i] = r;
          if (r < min) min = r;
          if (r > max) max = r;
        }
        const range = max - min;
        const scores = new Float64Array(pods.length);
        for (let i = 0; i < scores.length; i++)
          scores[i] = range > 0 ? ((raw[i] as number) - min) / range : 1;
        return { t: "scores", scores };
      },

      prefixLookup: (ctx, pod) => memo.lookup(ctx, pod),

      onRouted(ctx, pod) {
        try {
          return recordRouted(ctx, pod, prefix);
        } catch {
          // onRouted must not throw; a failed index update only costs a future cache hit.
          return undefined;
        }
      },
    } satisfies Strategy;
  },
};
