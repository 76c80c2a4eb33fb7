/**
 * `least-latency`: prefer the pod expected to finish this request soonest, from kvroute's own observations of
 * finished requests (time to first token, time per output token, request duration) plus the work kvroute has in
 * flight there. It needs no Prometheus: AIBrix's version reads PromQL values and a histogram through a getter that
 * always returns 0, so its queue term is always 0 and, without Prometheus, it picks at random.
 *
 * @module
 */
import { z } from "zod";
import type { Pod, PodObservation } from "../../../cluster";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { minMax, NO_OBSERVATIONS } from "../signal-scores";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "least-latency";

/** Params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({
  /** Output tokens to expect when the request sets no `max_tokens` (or equivalent). */
  defaultOutputTokens: z.int().min(1).max(1_000_000).default(128),
  /**
   * Cap on the expected output tokens: `max_tokens` is an upper bound that clients often set to the whole context,
   * and an uncapped value would let the decode term drown the rest.
   */
  maxOutputTokens: z.int().min(1).max(1_000_000).default(2048),
  /**
   * Weight of the queue term (in-flight requests × mean request duration). 1 assumes the pod drains its in-flight
   * work one request at a time, which overstates the wait on a batching engine but ranks pods like
   * `least-busy-time`; 0 ignores what is in flight (AIBrix's effective behaviour).
   */
  queueWeight: z.number().min(0).max(100).default(1),
});

/** Params of `least-latency`, defaults applied. */
export type LeastLatencyParams = z.infer<typeof paramsSchema>;

/**
 * Expected latency of a request with `outputTokens` output tokens on a pod with observation `o` and `inflight`
 * requests in flight, ms; undefined when the pod lacks a TTFT or TPOT observation.
 * `own = ttftMs + tpotMs × (outputTokens − 1)` (TPOT is per token after the first);
 * `queue = queueWeight × inflight × (durationMs ?? own)`; result `own + queue`.
 */
export function expectedLatencyMs(
  o: PodObservation | undefined,
  inflight: number,
  outputTokens: number,
  queueWeight: number,
): number | undefined {
  if (o?.ttftMs === undefined || o.tpotMs === undefined) return undefined;
  const own = o.ttftMs + o.tpotMs * Math.max(0, outputTokens - 1);
  const queue = queueWeight * inflight * (o.durationMs ?? own);
  return own + queue;
}

/** Creates the `least-latency` strategy with validated `params`. */
export const factory: StrategyFactory<LeastLatencyParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "least-expected-latency", abstainsWhen: [NO_OBSERVATIONS] } satisfies StrategyContract,
  create(params) {
    const { defaultOutputTokens, maxOutputTokens, queueWeight } = params;
    return {
      type: TYPE,
      reads: ["observations", "inflight"],
      /**
       * `score = (max − L) / (max − min)` over `L = expectedLatencyMs(...)` with
       * `outputTokens = min(request.maxTokens ?? defaultOutputTokens, maxOutputTokens)`; all equal → 1; a pod
       * without TTFT and TPOT observations → 0. Abstains `no-observations` when no candidate has them.
       */
      score(ctx, pods) {
        const outputTokens = Math.min(ctx.request.maxTokens ?? defaultOutputTokens, maxOutputTokens);
        const values = new Float64Array(pods.length);
        for (let i = 0; i < pods.length; i++) {
          const key = (pods[i] as Pod).key;
          const l = expectedLatencyMs(
            ctx.observation(key),
            ctx.load(key).requests,
            outputTokens,
            queueWeight,
          );
          values[i] = l !== undefined && Number.isFinite(l) ? l : NaN;
        }
        const { scores, present } = minMax(values, "lower");
        if (pods.length > 0 && present === 0) return { t: "abstain", reason: NO_OBSERVATIONS };
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
