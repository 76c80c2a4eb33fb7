/**
 * The contracts of routing: what a strategy is, what it sees, and what a pick is. Implementations live in
 * `strategies/<name>/`; the scheduler that runs them lives in `scheduler.ts`.
 *
 * @module
 */
import type { z } from "zod";
import type {
  EngineMetrics,
  GpuProfile,
  PendingLoadAccumulator,
  Pod,
  PodLoad,
  PodObservation,
} from "../cluster";
import type { PrefixIndex, PreparedPrompt } from "../prefix";
import type { InferenceRequest } from "../request";
import type { Code } from "../errors";
import type { EndpointScore } from "./endpoint-scores";
import type { StrategyContract } from "./strategy-contract";

/** Signals a strategy may declare it reads (for `/debug/state` and docs; the framework does not enforce them). */
export type Signal =
  | "inflight"
  | "inflight-tokens"
  | "headers"
  | "random"
  | "prompt"
  | "engine-metrics"
  | "lora"
  | "observations"
  /** Token ids and block keys of the prompt: the director tokenizes before scoring when a strategy reads this. */
  | "prefix"
  /** GPU profiles and the per-pod consumption kvroute has in flight ({@link SloDeps}). */
  | "pending-load";

/** Read-only view of the request headers routing may use (keys lower-case). */
export interface HeaderView {
  get(name: string): string | undefined;
}

// The prepared prompt is prefix's type; the contract names it because `RoutingContext.prompt` hands it to strategies.
export type { PreparedPrompt };

/** Everything a strategy may look at for one decision. Immutable for the duration of the decision. */
export interface RoutingContext {
  readonly requestId: string;
  /** The parsed body. */
  readonly request: InferenceRequest;
  readonly headers: HeaderView;
  /** In-flight work per pod key, as kvroute itself tracks it. */
  load(podKey: string): PodLoad;
  /** Uniform random number in [0, 1); injected so tests are deterministic. */
  random(): number;
  /** The pod's engine metrics when fresh; undefined when missing or stale (never stale numbers). */
  metrics(podKey: string): EngineMetrics | undefined;
  /** kvroute's own latency/throughput observations of the pod; undefined before the first sample. */
  observation(podKey: string): PodObservation | undefined;
  /** The prompt's tokens and block keys (tokens undefined unless some strategy of the plan reads `"prefix"`). */
  readonly prompt: PreparedPrompt;
}

/**
 * A strategy's answer for the candidate pods.
 * - `scores`: one score per pod, index-aligned with the `pods` argument, each in [0, 1] where 1 is best.
 *   A NaN or infinite score is a bug: the scheduler counts it and treats it as 0.
 * - `abstain`: the strategy has no signal for this request (no session key, metrics missing, …). `reason` is a
 *   short kebab-case constant; it becomes the fallback reason and a metric label, so it must be low-cardinality.
 */
export type ScoreResult =
  | { readonly t: "scores"; readonly scores: ArrayLike<number> }
  | { readonly t: "abstain"; readonly reason: string }
  /**
   * `wait`: the strategy has its signal, and no candidate can take the request now (no headroom under its cap).
   * The decision is `wait` whatever the other strategies of the plan say: the director parks the request until a
   * release of the model frees room (async path) or answers `none` (sync path). `reason` is kebab-case, as for
   * `abstain`. Only strategies that declare `mayWait` may answer it.
   */
  | { readonly t: "wait"; readonly reason: string };

/** A routing strategy: an optional filter and a scorer. */
export interface Strategy {
  /** Registered type name (kebab-case), e.g. `least-request`. Constant for the implementation. */
  readonly type: string;
  /** What the strategy reads. */
  readonly reads: readonly Signal[];
  /**
   * Narrow the candidates (never widen). Called before any scoring, in strategy order. Returning an empty list
   * means "nothing fits": the scheduler then answers `none`.
   */
  filter?(ctx: RoutingContext, pods: readonly Pod[]): readonly Pod[];
  /** Score the candidates. Must be synchronous and cheap: it runs on the gRPC event loop. */
  score(ctx: RoutingContext, pods: readonly Pod[]): ScoreResult;
  /**
   * Called once after the decision, with the chosen pod, when this strategy took part (e.g. the approximate prefix
   * index records what was sent where). May return a finisher, which the pick's release calls exactly once with the
   * request's outcome (e.g. to give back a reservation or replace an estimate with the tokens actually used).
   * Neither may throw; if one does (a bug), the director counts and logs it and routes the request all the same,
   * its reservation released exactly once, without that strategy's finisher.
   */
  onRouted?(ctx: RoutingContext, pod: Pod): RouteFinisher | void;
  /**
   * True when `score` may answer `wait`. The director then keeps such plans in FIFO order: a newcomer for a model
   * whose requests are already waiting queues behind them instead of overtaking them into freed room.
   */
  readonly mayWait?: boolean;
  /** Response headers to add when the request went to `pod` (session affinity returns `x-session-id`). */
  responseHeaders?(ctx: RoutingContext, pod: Pod): readonly (readonly [string, string])[];
  /**
   * What this decision's prefix lookup found for the picked `pod` (prefix-aware strategies), for the prefix-hit
   * metrics; undefined when the strategy looked nothing up. Called once after `onRouted`, in the same synchronous
   * step as `score`. Must not throw.
   */
  prefixLookup?(ctx: RoutingContext, pod: Pod): PrefixLookup | undefined;
}

/** A prefix lookup's result for one pod, in that pod's blocks (its engine's block size, or the approximate one). */
export interface PrefixLookup {
  /** Leading prompt blocks the pod holds, as the index that speaks for it says. */
  readonly hitBlocks: number;
  /** Prompt blocks looked up (> 0; at most `--prefix-max-prompt-blocks`). */
  readonly lookupBlocks: number;
}

/** Dependencies a strategy factory may use. Nothing global: everything comes in here. */
export interface StrategyDeps {
  readonly now: () => number;
  /** Prefix indexes for prefix-aware strategies; absent when kvroute runs without them. */
  readonly prefix?: PrefixDeps;
  /** GPU profiles, pending load and output prediction for the SLO family; absent: those strategies abstain. */
  readonly slo?: SloDeps;
}

/** What the SLO strategies read and write (GPU profiles, pending load, predicted output length). */
export interface SloDeps {
  /** The GPU profile of `model` on the pod's deployment; undefined when none was published (or no Redis). */
  profileFor(model: string, pod: Pod): GpuProfile | undefined;
  /**
   * Per-pod sum of the consumptions kvroute itself has in flight. Shared by every SLO strategy: each reserves in
   * `onRouted` and releases in its finisher.
   */
  readonly pending: PendingLoadAccumulator;
  /** Predicted output tokens of a request of `promptTokens` for `model` (≥ 1; 1 with no history, as AIBrix). */
  predictOutput(model: string, promptTokens: number): number;
}

/** What prefix-aware strategies read and write. */
export interface PrefixDeps {
  /**
   * What kvroute itself routed (engines without events). `add` returns a ticket; `forget` with it takes back what
   * that `add` recorded (the request failed, so the engine did not cache the prompt).
   */
  readonly approximate: PrefixIndex & {
    add(podKey: string, keys: ArrayLike<bigint>): number;
    forget(podKey: string, keys: ArrayLike<bigint>, ticket: number): number;
  };
  /**
   * Blocks vLLM pods reported over ZeroMQ; with speculation on, also counting blocks recently routed there
   * (`speculative`), since an event only arrives after the pod's prefill.
   */
  readonly events: PrefixIndex;
  /**
   * Where to record a prompt's keys (at the pod's engine block size) just routed to an event-publishing pod, so
   * `events` counts them until its events confirm them or the TTL passes; absent when speculation is off.
   */
  readonly speculative?: { add(podKey: string, keys: ArrayLike<bigint>): void };
  /** Whether a pod's event stream is live and trustworthy (subscribed, no unrecovered gap). */
  readonly publishesEvents: (podKey: string) => boolean;
  /** Block size (tokens) of a pod's engine as seen in its events; undefined when unknown. */
  readonly eventBlockSize: (podKey: string) => number | undefined;
  /** Block size of the approximate index (tokens). */
  readonly approximateBlockSize: number;
  /**
   * Most leading blocks of a prompt that strategies match and record (whatever the prompt's length, index work per
   * request stays bounded); absent = all.
   */
  readonly maxPromptBlocks?: number;
}

/** A registrable strategy type: a name, a params schema, and a factory. */
export interface StrategyFactory<P = unknown> {
  readonly type: string;
  /** Validates the strategy's params (from configuration); defaults applied by the schema. */
  readonly paramsSchema: z.ZodType<P>;
  create(params: P, deps: StrategyDeps): Strategy;
  /**
   * What the strategy promises to do (signal ranked by, abstain reasons), checked by the contract test suite.
   * Optional for the type so test doubles need none; every built-in declares one (the suite checks).
   */
  readonly contract?: StrategyContract;
}

/**
 * Who wrote the response whose status an {@link Outcome} carries: the pod (`pod`), or Envoy itself in a local reply
 * — `envoy-connect-failure` (connect failure, or reset before response headers), `envoy-timeout` (upstream request
 * timeout), `envoy-other` (a local reply that is not the pod's doing, e.g. overflow or no healthy upstream).
 */
export type ResponseSource = "pod" | "envoy-connect-failure" | "envoy-timeout" | "envoy-other";

/** How a routed request ended, reported once through `Pick.release`. */
export interface Outcome {
  readonly kind: "success" | "upstream-error" | "cancelled" | "reset" | "shutdown" | "error";
  /** Upstream HTTP status, when response headers were seen. */
  readonly status?: number;
  /** Who wrote that status, when response headers were seen (see {@link ResponseSource}). */
  readonly source?: ResponseSource;
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** Decision to the first response byte, ms. */
  readonly firstTokenMs?: number;
  /** Decision to the end of the response, ms. */
  readonly durationMs?: number;
}

/**
 * What a strategy does when a request it routed ends (see `Strategy.onRouted`). A strategy whose bookkeeping is
 * tied to the pod (a prefix recorded there, a consumption reserved there) also gives it `moveTo`: called when the
 * gateway reports that another pod served the request (it retried a fallback endpoint), to move that bookkeeping
 * to `pod`. `moveTo` is never called after the finisher; neither may throw.
 */
export interface RouteFinisher {
  (outcome: Outcome): void;
  readonly moveTo?: (pod: Pod) => void;
  /**
   * The request's first token reached kvroute (a stream's first data event): the pod it is on now has prefilled the
   * prompt. Called at most once, before the finisher, and only for requests whose first token kvroute sees; bookkeeping
   * of work not yet prefilled (a prefill backlog) may end there. Must not throw.
   */
  readonly firstToken?: () => void;
}

/** Releases the pod's reservation and records the outcome. Idempotent: only the first call has an effect. */
export type Release = (outcome: Outcome) => void;

/**
 * Tells the pick's strategies (and flow control) that the request's first token arrived, so the pod has prefilled
 * its prompt (`RouteFinisher.firstToken`). Only the first call before the release has an effect.
 */
export type FirstToken = () => void;

/**
 * Moves a pick's reservation (in-flight load, strategies' per-pod bookkeeping, passive health's trial) to `pod`,
 * the pod the gateway reports actually served the request. Returns false, moving nothing, when `pod` is already
 * where the reservation is or the pick was released. After a move, `release` gives back the moved reservation.
 */
export type MoveReservation = (pod: Pod) => boolean;

/** What the P/D step of a decision did, for the request log line and trace. */
export interface PdStep {
  /** The prefill pod's name, when a prefill request was sent there. */
  readonly prefillPod?: string;
  /** The prefill request's duration, ms (to its dispatch, for an engine whose prefill runs alongside decode). */
  readonly prefillMs?: number;
  /**
   * Why the request went to the decode pod without a prefill hop (it prefills there): `short-prompt`, `cached-prompt`, or the
   * reason of a counted fallback (`prefill-status`, `prefill-timeout`, ...). Absent when disaggregated.
   */
  readonly skipped?: string;
}

/**
 * The result of one routing decision. The in-flight slot on `pod` is already reserved when a pick is returned;
 * whoever receives a `routed` or `fallback` pick must call `release` exactly once (extra calls are harmless).
 * `fallbacks` are up to `FALLBACK_ENDPOINTS` other candidates the gateway may retry on, best first: never `pod`,
 * never one outside the candidates (ready, in the subset, past the filters) nor one health holds anything against.
 * Nothing is reserved on them.
 */
export type Pick =
  | {
      readonly t: "routed";
      readonly pod: Pod;
      /** The strategy string as given (echoed in `routing-strategy`). */
      readonly strategy: string;
      readonly responseHeaders: readonly (readonly [string, string])[];
      readonly release: Release;
      readonly moveTo: MoveReservation;
      /** See {@link FirstToken}; absent on picks that hold nothing a first token ends. */
      readonly firstToken?: FirstToken;
      /** Fallback endpoints for the gateway, best first (see {@link Pick}). */
      readonly fallbacks: readonly Pod[];
      /** With `emitEndpointScores`: the pick's and the best other candidates' combined scores; absent otherwise. */
      readonly scores?: readonly EndpointScore[];
      /** What the plan's first prefix-aware strategy looked up for `pod`; absent when none looked anything up. */
      readonly prefix?: PrefixLookup;
      /** The request body to send `pod` instead of the client's (P/D: the decode request); absent: unchanged. */
      readonly body?: Uint8Array;
      /** What the P/D step did (`pd` strategy on a disaggregated model); absent otherwise. */
      readonly pd?: PdStep;
    }
  | {
      readonly t: "fallback";
      readonly pod: Pod;
      readonly strategy: string;
      /** Why the strategy could not decide (e.g. `no-session-key`). */
      readonly reason: string;
      /**
       * What chose the pod instead: `least-request`, the fewest requests in flight as kvroute counts them (ties
       * broken uniformly at random). Always available, so a fallback is never a blind random pick.
       */
      readonly fallbackTo: "least-request";
      readonly responseHeaders: readonly (readonly [string, string])[];
      readonly release: Release;
      readonly moveTo: MoveReservation;
      /** See {@link FirstToken}; absent on picks that hold nothing a first token ends. */
      readonly firstToken?: FirstToken;
      /** Fallback endpoints for the gateway, best first (see {@link Pick}). */
      readonly fallbacks: readonly Pod[];
      /** With `emitEndpointScores`: the pick's and the best other candidates' combined scores; absent otherwise. */
      readonly scores?: readonly EndpointScore[];
      /** What the plan's first prefix-aware strategy looked up for `pod`; absent when none looked anything up. */
      readonly prefix?: PrefixLookup;
      /** The request body to send `pod` instead of the client's (P/D: the decode request); absent: unchanged. */
      readonly body?: Uint8Array;
      /** What the P/D step did (`pd` strategy on a disaggregated model); absent otherwise. */
      readonly pd?: PdStep;
    }
  | { readonly t: "none"; readonly code: Code.NoReadyPod; readonly strategy: string };
