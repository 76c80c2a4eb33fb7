/**
 * `vtc-basic`: AIBrix's Virtual Token Counter fairness routing (`vtc/vtc_basic.go`).
 * Each user's weighted tokens over a sliding window map the user onto a position in the candidate list: light users
 * go to the first pods, heavy users towards the last, so a heavy user's load lands away from light users'. A
 * utilization term and a small random term keep the spread. Unlike AIBrix, the charge made at routing time (an
 * estimate) is replaced by the tokens the response reported once it ends.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { Endpoint } from "../../../request";
import type { Outcome, RoutingContext, Strategy, StrategyDeps, StrategyFactory } from "../../framework";
import { minMax } from "../signal-scores";
import type { StrategyContract } from "../../strategy-contract";
import { createTokenTracker, type TokenTracker } from "../../token-tracker";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "vtc-basic";

/** Request header naming the user (AIBrix reads the same header). */
export const USER_HEADER = "user";
/** Longest user name tracked, in UTF-16 units: the header is client-controlled and becomes a map key. */
export const MAX_USER_CHARS = 256;

/** Abstain reasons (metric labels). */
export const Reason = {
  /** No (or an empty) `user` header. AIBrix picks a random pod; kvroute falls back to least-request, counted. */
  NoUser: "no-user",
  /** The `user` header is longer than {@link MAX_USER_CHARS}. */
  UserTooLong: "user-too-long",
} as const;

/** Window length units, as AIBrix's `AIBRIX_ROUTER_VTC_TOKEN_TRACKER_TIME_UNIT` spells them. */
export const TIME_UNITS = ["minutes", "seconds", "milliseconds"] as const;
/** A window length unit. */
export type TimeUnit = (typeof TIME_UNITS)[number];
const UNIT_MS: Readonly<Record<TimeUnit, number>> = { minutes: 60_000, seconds: 1000, milliseconds: 1 };

/** Output tokens are estimated at this many times the input tokens (AIBrix `OutputRatio`). */
const OUTPUT_RATIO = 1.5;
/** The random term is uniform in [0, RANDOM_SPREAD) (AIBrix). */
const RANDOM_SPREAD = 0.1;
/** Endpoints that generate tokens; the others (embeddings, rerank, classify) are estimated at 0 output tokens. */
const GENERATING: ReadonlySet<Endpoint> = new Set([
  "chat-completions",
  "completions",
  "responses",
  "messages",
]);

/**
 * Params. The server maps AIBrix's env (`AIBRIX_ROUTER_VTC_TOKEN_TRACKER_*`, `AIBRIX_ROUTER_VTC_BASIC_*`) onto
 * these; the defaults are AIBrix's.
 */
export const paramsSchema = z.strictObject({
  /** Window length in `timeUnit`s. */
  windowSize: z.number().int().min(1).default(5),
  timeUnit: z.enum(TIME_UNITS).default("minutes"),
  /** Smallest bucket size (weighted tokens), and the minimum over users when none has tokens. */
  minTokens: z.number().min(1).default(1000),
  /** The maximum over users when none has tokens (weighted tokens). */
  maxTokens: z.number().min(1).default(8000),
  /** Requests running at which a pod's utilization term reaches 1. */
  maxPodLoad: z.number().min(1).default(100),
  inputTokenWeight: z.number().min(0).default(1),
  outputTokenWeight: z.number().min(0).default(2),
  fairnessWeight: z.number().min(0).default(1),
  utilizationWeight: z.number().min(0).default(1),
  /** Most users tracked; the least recently charged is forgotten beyond (kvroute's own bound). */
  maxUsers: z.number().int().min(1).default(10_000),
});

/** Params of `vtc-basic`. */
export type VtcBasicParams = z.infer<typeof paramsSchema>;

/** The user of the request, or why there is none. */
function userOf(ctx: RoutingContext): { t: "user"; user: string } | { t: "abstain"; reason: string } {
  const user = ctx.headers.get(USER_HEADER);
  if (!user) return { t: "abstain", reason: Reason.NoUser };
  if (user.length > MAX_USER_CHARS) return { t: "abstain", reason: Reason.UserTooLong };
  return { t: "user", user };
}

/**
 * Position of each candidate in a stable order (by pod key). AIBrix indexes its ready list as given; kvroute sorts,
 * so a user's token level maps to the same pod from one request to the next and on every replica, which is what
 * keeps heavy users' load on "their" pods. The utilization term stops the first pods from being overrun.
 */
function positions(pods: readonly Pod[]): Float64Array {
  const order = pods.map((_, i) => i);
  order.sort((a, b) => {
    const ka = (pods[a] as Pod).key;
    const kb = (pods[b] as Pod).key;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const pos = new Float64Array(pods.length);
  order.forEach((podIndex, position) => (pos[podIndex] = position));
  return pos;
}

/**
 * Requests running on the pod: the engine's `num_requests_running` for the model (else for the whole engine) when
 * its metrics are fresh, else kvroute's own in-flight count (AIBrix counts a pod without metrics as idle).
 */
function running(ctx: RoutingContext, pod: Pod): number {
  const m = ctx.metrics(pod.key);
  const engine = m ? (m.byModel.get(ctx.request.model)?.requestsRunning ?? m.requestsRunning) : undefined;
  return engine !== undefined && Number.isFinite(engine) ? engine : ctx.load(pod.key).requests;
}

/** Estimated tokens of a request: input from the tokenized prompt when prepared, else the parser's estimate. */
function estimate(ctx: RoutingContext): { input: number; output: number } {
  const input = ctx.prompt.tokens?.length ?? ctx.request.promptTokens;
  if (!GENERATING.has(ctx.request.endpoint)) return { input, output: 0 };
  const guess = Math.ceil(input * OUTPUT_RATIO);
  const cap = ctx.request.maxTokens;
  return { input, output: cap !== undefined ? Math.min(guess, cap) : guess };
}

/** The `vtc-basic` strategy plus a read-only view of its token counts (for `/debug/state` and tests). */
export interface VtcBasicStrategy extends Strategy {
  readonly tracker: Pick<TokenTracker, "tokens" | "minTokens" | "maxTokens" | "size">;
}

/** Create the `vtc-basic` strategy with its own token tracker (per replica, in memory). */
export function createVtcBasic(params: VtcBasicParams, deps: StrategyDeps): VtcBasicStrategy {
  const tracker: TokenTracker = createTokenTracker({
    windowMs: params.windowSize * UNIT_MS[params.timeUnit],
    maxUsers: params.maxUsers,
    defaultMin: params.minTokens,
    defaultMax: params.maxTokens,
    now: deps.now,
  });
  const weigh = (input: number, output: number): number =>
    input * params.inputTokenWeight + output * params.outputTokenWeight;

  return {
    type: TYPE,
    reads: ["headers", "prompt", "engine-metrics", "inflight", "random"],

    /**
     * For the pod at position `i` of the stable order: `raw = w_f·|i − norm| + w_u·min(running/maxPodLoad, 1) +
     * U[0, 0.1)` with `norm = min(userTokens / max(minTokens, (minUser + maxUser)/2), n − 1)`; lowest raw is
     * best, min-max normalised to [0, 1] (best 1). Abstains `no-user` or `user-too-long`.
     */
    score(ctx, pods) {
      const who = userOf(ctx);
      if (who.t === "abstain") return who;
      const n = pods.length;
      const bucket = Math.max(params.minTokens, (tracker.minTokens() + tracker.maxTokens()) / 2);
      const norm = Math.min(tracker.tokens(who.user) / bucket, Math.max(n - 1, 0));
      const pos = positions(pods);
      const raw = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const util = Math.min(running(ctx, pods[i] as Pod) / params.maxPodLoad, 1);
        raw[i] =
          params.fairnessWeight * Math.abs((pos[i] as number) - norm) +
          params.utilizationWeight * util +
          RANDOM_SPREAD * ctx.random();
      }
      return { t: "scores", scores: minMax(raw, "lower").scores };
    },

    /**
     * Charge the user the estimate (`in·w_in + out·w_out`, `out = ceil(in·1.5)`); the finisher replaces it with
     * the reported usage, or keeps it when the response reported none (errors, streams without usage).
     */
    onRouted(ctx) {
      const who = userOf(ctx);
      if (who.t === "abstain") return;
      const est = estimate(ctx);
      const charge = tracker.charge(who.user, weigh(est.input, est.output));
      return function settleVtcCharge(outcome: Outcome): void {
        if (outcome.promptTokens === undefined && outcome.completionTokens === undefined) return;
        // Embeddings report prompt tokens only; a missing prompt count keeps the estimate's.
        tracker.settle(charge, weigh(outcome.promptTokens ?? est.input, outcome.completionTokens ?? 0));
      };
    },
    // A read-only view: the strategy alone charges and settles.
    tracker: Object.freeze({
      tokens: tracker.tokens,
      minTokens: tracker.minTokens,
      maxTokens: tracker.maxTokens,
      size: tracker.size,
    }),
  } satisfies VtcBasicStrategy;
}

/** Registers `vtc-basic`. */
export const factory: StrategyFactory<VtcBasicParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "vtc-fairness", abstainsWhen: Object.values(Reason) } satisfies StrategyContract,
  create: createVtcBasic,
};
