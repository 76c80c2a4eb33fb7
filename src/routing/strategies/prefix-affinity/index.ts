/**
 * `prefix-affinity` ("sticky until saturated", llm-d's behaviour on kvroute's indexes): keep a request on the pods
 * that hold enough of its prompt until the prefill backlog there would cost more TTFT than one accepts; then send
 * it where the backlog is least and let that pod recompute the prefix.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { Outcome, RouteFinisher, RoutingContext, Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { createMatchMemo, matchPrefix, recordRouted } from "../prefix-cache/match";
import { createPrefillGate } from "./gate";
import { createUncachedInflight } from "./uncached-inflight";

/** Registered type name. */
export const TYPE = "prefix-affinity";

/** Params (all optional; unknown keys fail startup). */
export const paramsSchema = z.strictObject({
  /** A pod is affine when it holds at least this fraction of the prompt's blocks. */
  threshold: z.number().gt(0).max(1).default(0.5),
  /** Extra TTFT one accepts to keep a prompt on its cache, seconds: the gate is throughput × this. */
  ttftPenaltySeconds: z.number().gt(0).max(3600).default(1),
  /** Prefill throughput per model (tokens/s); wins over the GPU profile and the measured rate. */
  prefillTokensPerSecond: z.record(z.string(), z.number().positive().finite()).default({}),
});

/** Params of `prefix-affinity`. */
export type PrefixAffinityParams = z.infer<typeof paramsSchema>;

/** Ties between equal hit fractions go to the pod with less look-ahead backlog, by at most this much. */
const BACKLOG_TIE_BREAK = 1e-6;
/** Scores of the pods the gate keeps lie in [0.5, 1]; every other pod scores below this. */
const OTHERS_BELOW = 0.49;

/** What one decision computed, kept for `onRouted` (same synchronous step, guarded by `ctx` identity). */
interface Decision {
  readonly ctx: RoutingContext;
  readonly pods: readonly Pod[];
  /** Index-aligned with `pods`: this prompt's uncached tokens on each pod. */
  readonly uncached: Float64Array;
}

/** Creates the `prefix-affinity` strategy over `deps.prefix` (abstains `no-prefix-index` without it). */
export const factory: StrategyFactory<PrefixAffinityParams> = {
  type: TYPE,
  paramsSchema,
  contract: {
    ranksBy: "most-prefix-blocks",
    abstainsWhen: ["no-prefix-index", "no-tokens"],
  } satisfies StrategyContract,
  create(params, deps) {
    const prefix = deps.prefix;
    const memo = createMatchMemo();
    const inflight = createUncachedInflight();
    const gate = createPrefillGate(params, deps.slo);
    let last: Decision | undefined;
    return {
      type: TYPE,
      reads: ["prefix", "engine-metrics", "pending-load"],

      /**
       * With `T` the prompt's tokens, `h` a pod's hit fraction (as in `prefix-cache`), `B` the uncached prompt
       * tokens kvroute has in flight there and the pod has not prefilled yet (`uncached-inflight.ts`; the engine's
       * fresh waiting-queue length corrects its drain model): look-ahead `L = B + T·(1 − h)`. Affine pods (`h ≥ threshold`) with
       * `L ≤ τ` (the pod's gate, see `gate.ts`) score in [0.5, 1] by `h` (ties: least `L`); every other pod scores
       * below 0.5 by least `L`, so when no affine pod is under its gate the least backlog wins. Abstains
       * `no-prefix-index` or `no-tokens` only.
       */
      score(ctx, pods) {
        last = undefined;
        const m = memo.keep(ctx, pods, matchPrefix(ctx, pods, prefix));
        if (m.t === "abstain") return m;
        const tokens = (ctx.prompt.tokens as Uint32Array).length;
        const n = pods.length;
        const now = deps.now();
        const uncached = new Float64Array(n);
        const look = new Float64Array(n);
        let maxLook = 0;
        let minLook = Infinity;
        for (let i = 0; i < n; i++) {
          const pod = pods[i] as Pod;
          const metrics = ctx.metrics(pod.key);
          if (metrics) gate.observe(pod.key, metrics);
          uncached[i] = Math.ceil(tokens * (1 - (m.fractions[i] as number)));
          look[i] = inflight.tokens(pod.key, now, metrics?.requestsWaiting) + (uncached[i] as number);
          if ((look[i] as number) > maxLook) maxLook = look[i] as number;
          if ((look[i] as number) < minLook) minLook = look[i] as number;
        }
        last = { ctx, pods, uncached };
        const scores = new Float64Array(n);
        let kept = false;
        for (let i = 0; i < n; i++) {
          const h = m.fractions[i] as number;
          if (h < params.threshold) continue;
          const pod = pods[i] as Pod;
          const tau = gate.tokens(ctx.request.model, pod, minLook, tokens);
          if ((look[i] as number) > tau) continue;
          const lighter = maxLook > 0 ? 1 - (look[i] as number) / maxLook : 1;
          scores[i] = 0.5 + 0.5 * (h * (1 - BACKLOG_TIE_BREAK) + BACKLOG_TIE_BREAK * lighter);
          kept = true;
        }
        for (let i = 0; i < n; i++) {
          if (kept && (scores[i] as number) > 0) continue;
          const lighter = maxLook > 0 ? 1 - (look[i] as number) / maxLook : 1;
          // Without an affine pod under its gate the least backlog is the best pick, so it may score 1.
          scores[i] = kept ? OTHERS_BELOW * lighter : maxLook > minLook ? lighter : 1;
        }
        return { t: "scores", scores };
      },

      prefixLookup: (ctx, pod) => memo.lookup(ctx, pod),

      /**
       * Hold this prompt's uncached tokens on `pod` until the request ends (the finisher gives them back once; a
       * move carries them to the serving pod at its own uncached count), and record the prompt there as
       * `prefix-cache` does.
       */
      onRouted(ctx, pod) {
        const d = last !== undefined && last.ctx === ctx ? last : undefined;
        last = undefined;
        let prefixFinish: RouteFinisher | undefined;
        try {
          prefixFinish = recordRouted(ctx, pod, prefix);
        } catch {
          // A failed index update only costs a future cache hit; the backlog is still held below.
          prefixFinish = undefined;
        }
        // A pod the decision did not score (a gateway fallback): its whole prompt counts as uncached.
        const uncachedOn = (to: Pod): number => {
          const j = d ? d.pods.indexOf(to) : -1;
          return j >= 0 ? (d?.uncached[j] as number) : (ctx.prompt.tokens?.length ?? 0);
        };
        const drain = (to: Pod): number | undefined =>
          gate.throughput(ctx.request.model, to)?.tokensPerSecond;
        const held = inflight.reserve(pod.key, uncachedOn(pod), deps.now(), drain(pod));
        const finish = (outcome: Outcome): void => {
          held.release();
          prefixFinish?.(outcome);
        };
        const moveTo = (to: Pod): void => {
          held.moveTo(to.key, uncachedOn(to), deps.now(), drain(to));
          prefixFinish?.moveTo?.(to);
        };
        return Object.assign(finish, { moveTo });
      },
    } satisfies Strategy;
  },
};
