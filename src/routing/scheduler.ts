/**
 * Runs a compiled plan over the candidate pods: every strategy's filter in order, then every strategy's scores,
 * combined as a weighted sum, and the best total wins (ties broken uniformly at random). When every strategy
 * abstains, the fewest requests in flight wins instead, and the decision says so (`fallback`).
 *
 * The scheduler knows nothing of load reservation or errors on the wire; the director does that around it.
 *
 * @module
 */
import type { Pod } from "../cluster";
import type { RoutingContext } from "./framework";
import type { StrategyPlan } from "./registry";

/**
 * Hooks the scheduler reports through, so metrics stay out of routing (`src/observability` implements them).
 * Every hook is optional and must not throw.
 */
export interface SchedulerObserver {
  /** Time one strategy spent (filter + score) on one decision, in milliseconds. `type` is the registered type. */
  onStrategyDuration?(type: string, ms: number): void;
  /**
   * A strategy broke the score contract in one decision: a NaN or ±Infinity score (treated as 0), a score outside
   * [0, 1] (clamped), a score array of the wrong length (the strategy then counts 0 for every pod), or a filter
   * that returned pods it was not given (they are dropped). Reported at most once per strategy per decision.
   */
  onBadScore?(type: string): void;
  /**
   * Every strategy abstained, so the pod was chosen by the fallback ({@link FALLBACK_TO}). `strategy` is the
   * registered type of the first strategy that abstained and `reason` its reason: both low-cardinality, fit for
   * metric labels (the raw spec string is client-controlled and is not).
   */
  onFallback?(strategy: string, reason: string): void;
}

/**
 * What decides when every strategy abstains: kvroute's own in-flight request counts, which are always available
 * (fewest requests wins, ties uniformly at random).
 */
export const FALLBACK_TO = "least-request";

/**
 * What the scheduler decided. `none` means the filters left no candidate; `fallback` means every strategy
 * abstained and {@link FALLBACK_TO} chose the pod (`strategy`/`reason` from the first that abstained); `wait`
 * means a strategy found no candidate with headroom (`strategy`/`reason` from it): nothing is chosen, and the
 * director decides whether the request waits or is answered `none`.
 */
export type Decision =
  | { readonly t: "routed"; readonly pod: Pod; readonly ranking?: Ranking }
  | {
      readonly t: "fallback";
      readonly pod: Pod;
      readonly strategy: string;
      readonly reason: string;
      readonly fallbackTo: typeof FALLBACK_TO;
      readonly ranking?: Ranking;
    }
  | { readonly t: "wait"; readonly strategy: string; readonly reason: string }
  | { readonly t: "none" };

/**
 * What the pick was chosen from, for ranking the runners-up (`runners-up.ts`): the candidates left by the filters
 * and their combined scores (index-aligned; undefined when every strategy abstained and least load decided).
 */
export interface Ranking {
  readonly candidates: readonly Pod[];
  readonly totals: Float64Array | undefined;
}

/** Options of {@link createScheduler}. */
export interface SchedulerOptions {
  readonly observer?: SchedulerObserver;
  /** Monotonic clock in milliseconds for strategy timings. Default `performance.now`. */
  readonly nowMs?: () => number;
}

/** Runs plans. Stateless between decisions. */
export interface Scheduler {
  /**
   * Decide among `pods` (already filtered to ready pods serving the model; may be empty). Synchronous.
   * Exceptions thrown by a strategy propagate to the caller (they are bugs, not routing outcomes). With
   * `withRanking`, a `routed` or `fallback` decision also carries its {@link Ranking}.
   */
  schedule(plan: StrategyPlan, ctx: RoutingContext, pods: readonly Pod[], withRanking?: boolean): Decision;
}

/** Totals closer than this are a tie (as AIBrix's multi-strategy router). */
export const TIE_EPSILON = 1e-9;

/** Uniform index in [0, n) from a [0, 1) source; clamped so a misbehaving source cannot index past the end. */
export function randomIndex(random: () => number, n: number): number {
  const i = Math.floor(random() * n);
  return i >= 0 && i < n ? i : i < 0 ? 0 : n - 1;
}

/**
 * Keep only pods of `out` that were in `given` (a filter may narrow, never widen). Returns undefined when
 * `out` was already a subset, and the repaired list otherwise.
 */
function repairWidened(given: readonly Pod[], out: readonly Pod[]): Pod[] | undefined {
  const allowed = new Set(given);
  if (out.every((p) => allowed.has(p))) return undefined;
  return out.filter((p) => allowed.has(p));
}

/**
 * Add `share × scores[i]` into `totals`. Returns true when the strategy broke the score contract (see
 * {@link SchedulerObserver.onBadScore}); the offending values contribute 0 (non-finite) or their clamp.
 */
function accumulate(scores: ArrayLike<number>, share: number, totals: Float64Array): boolean {
  if (scores.length !== totals.length) return true;
  let bad = false;
  for (let i = 0; i < totals.length; i++) {
    let s = scores[i] as number;
    if (!Number.isFinite(s)) {
      bad = true;
      continue;
    }
    if (s < 0 || s > 1) {
      bad = true;
      s = s < 0 ? 0 : 1;
    }
    totals[i] = (totals[i] as number) + share * s;
  }
  return bad;
}

/** Index of the best total; ties within {@link TIE_EPSILON} of the best are broken uniformly with `random`. */
function argmaxRandomTies(totals: Float64Array, random: () => number): number {
  let best = -Infinity;
  for (let i = 0; i < totals.length; i++) if ((totals[i] as number) > best) best = totals[i] as number;
  let ties = 0;
  let first = 0;
  for (let i = 0; i < totals.length; i++) {
    if (best - (totals[i] as number) < TIE_EPSILON) {
      if (ties === 0) first = i;
      ties++;
    }
  }
  if (ties === 1) return first;
  let k = randomIndex(random, ties);
  for (let i = first; i < totals.length; i++) {
    if (best - (totals[i] as number) < TIE_EPSILON && k-- === 0) return i;
  }
  return first; // unreachable: k < ties
}

/**
 * Index of the candidate with the fewest requests in flight (`ctx.load(key).requests`); ties broken uniformly with
 * `ctx.random()`. `pods` is non-empty.
 */
function leastInflight(ctx: RoutingContext, pods: readonly Pod[]): number {
  const totals = new Float64Array(pods.length);
  // Negated counts, so the shared argmax (with its tie-break) picks the minimum.
  for (let i = 0; i < pods.length; i++) totals[i] = -ctx.load((pods[i] as Pod).key).requests;
  return argmaxRandomTies(totals, () => ctx.random());
}

/** Create a scheduler reporting through `options.observer`. */
export function createScheduler(options: SchedulerOptions = {}): Scheduler {
  const observer = options.observer ?? {};
  const nowMs = options.nowMs ?? (() => performance.now());

  return {
    schedule(plan, ctx, pods, withRanking = false) {
      const { entries } = plan;
      const spentMs = new Float64Array(entries.length);
      const ran = new Uint8Array(entries.length);
      const timed = <T>(i: number, fn: () => T): T => {
        ran[i] = 1;
        const t0 = nowMs();
        try {
          return fn();
        } finally {
          spentMs[i] = (spentMs[i] as number) + (nowMs() - t0);
        }
      };

      try {
        let candidates = pods;
        let i = 0;
        for (const { strategy: s } of entries) {
          const filter = s.filter;
          if (filter && candidates.length > 0) {
            const given = candidates;
            const out = timed(i, () => filter.call(s, ctx, given));
            const repaired = out === given ? undefined : repairWidened(given, out);
            if (repaired) observer.onBadScore?.(s.type);
            candidates = repaired ?? out;
          }
          i++;
        }
        if (candidates.length === 0) return { t: "none" };

        const totals = new Float64Array(candidates.length);
        let scored = 0;
        let abstained: { strategy: string; reason: string } | undefined;
        i = 0;
        for (const { strategy: s, share } of entries) {
          const given = candidates;
          const result = timed(i++, () => s.score(ctx, given));
          if (result.t === "abstain") {
            abstained ??= { strategy: s.type, reason: result.reason };
            continue;
          }
          // A hard "no room anywhere": the other strategies' scores cannot overrule a capacity cap.
          if (result.t === "wait") return { t: "wait", strategy: s.type, reason: result.reason };
          scored++;
          if (accumulate(result.scores, share, totals)) observer.onBadScore?.(s.type);
        }

        if (scored === 0 && abstained) {
          // No strategy had a signal: say so (a counted, labelled fallback) rather than dressing the fallback's
          // choice up as a scored one. The fallback uses kvroute's own in-flight counts, never a blind draw.
          observer.onFallback?.(abstained.strategy, abstained.reason);
          const pod = candidates[leastInflight(ctx, candidates)] as Pod;
          return {
            t: "fallback",
            pod,
            strategy: abstained.strategy,
            reason: abstained.reason,
            fallbackTo: FALLBACK_TO,
            ...(withRanking ? { ranking: { candidates, totals: undefined } } : {}),
          };
        }
        const pod = candidates[argmaxRandomTies(totals, () => ctx.random())] as Pod;
        return withRanking ? { t: "routed", pod, ranking: { candidates, totals } } : { t: "routed", pod };
      } finally {
        // Reported even when a strategy threw, so a slow-then-failing strategy still shows up in the histogram.
        const report = observer.onStrategyDuration;
        if (report) {
          let i = 0;
          for (const { strategy } of entries) {
            if (ran[i]) report.call(observer, strategy.type, spentMs[i] as number);
            i++;
          }
        }
      }
    },
  };
}
