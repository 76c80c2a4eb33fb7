/**
 * The director turns one parsed request into a {@link Pick}: choose the strategy spec, find the model's ready pods,
 * run the scheduler, and reserve load on the chosen pod in the same synchronous step, so two decisions taken
 * back to back never both see the pod as idle.
 *
 * @module
 */
import { podsForModel } from "../cluster/cluster-state";
import type { ClusterSnapshot } from "../cluster/cluster-state";
import type { LoadTracker, PodLoad } from "../cluster/load-tracker";
import type { EngineMetricsView } from "../cluster/engine-metrics";
import type { Observations } from "../cluster/observations";
import type { Pod } from "../cluster/pod";
import { Code, RouteError } from "../errors";
import type { InferenceRequest } from "../request/inference-request";
import type {
  HeaderView,
  Outcome,
  Pick,
  PreparedPrompt,
  Release,
  RouteFinisher,
  RoutingContext,
} from "./framework";
import type { StrategyPlan, StrategyRegistry } from "./registry";
import { createScheduler, type SchedulerObserver } from "./scheduler";

/** Scheduler hooks plus the end of a routed request. Every hook is optional and must not throw. */
export interface DirectorObserver extends SchedulerObserver {
  /** A pick was released: called exactly once per `routed`/`fallback` pick, after its load was released. */
  onRelease?(pod: Pod, outcome: Outcome): void;
}

/** Options of {@link createDirector}. */
export interface DirectorOptions {
  /** Fully registered (e.g. by `registerBuiltins`). */
  readonly registry: StrategyRegistry;
  /** The current fleet snapshot; read once per decision. */
  readonly cluster: () => ClusterSnapshot;
  /** In-flight accounting; the director reserves on pick and releases through `Pick.release`. */
  readonly load: LoadTracker;
  /** Spec used when the request has no `routing-strategy` header, e.g. `random` or `least-request:3,random`. */
  readonly defaultStrategy: string;
  readonly observer?: DirectorObserver;
  /** Uniform source in [0, 1) for strategies and tie-breaks. Default `Math.random`; tests inject a seeded one. */
  readonly random?: () => number;
  /**
   * Requests other kvroute replicas have in flight on a pod (shared through Redis); added to this replica's own
   * count in what strategies see. Default: none.
   */
  readonly remoteLoad?: (podKey: string) => number;
  /** Fresh engine metrics per pod (scraper). Default: none, so metric strategies abstain. */
  readonly metrics?: EngineMetricsView;
  /** kvroute's own latency observations per pod; fed through `onRelease` by the caller. Default: none. */
  readonly observations?: { get: Observations["get"] };
  /**
   * Tokenize the prompt and build its block keys, for plans with a strategy that reads `"prefix"`. Never rejects:
   * a failure yields a prompt without tokens (and a reason). Absent: prefix strategies see no tokens.
   */
  readonly preparePrompt?: (request: InferenceRequest, context: string) => Promise<PreparedPrompt>;
  /** Monotonic clock in ms for strategy timings. Default `performance.now`. */
  readonly nowMs?: () => number;
}

/** One request to route. */
export interface RouteInput {
  readonly requestId: string;
  readonly request: InferenceRequest;
  /** Request headers, lower-case keys. */
  readonly headers: HeaderView;
  /** Value of the `routing-strategy` request header, if any. Trimmed; empty counts as absent. */
  readonly strategyHeader: string | undefined;
}

/** Routes requests. */
export interface Director {
  /** The validated default spec (trimmed). */
  readonly defaultStrategy: string;
  /**
   * Decide where `input.request` goes. Synchronous: on a `routed` or `fallback` pick the pod's in-flight slot is
   * already reserved, and the caller must call `release` once when the request ends (extra calls do nothing).
   *
   * @throws RouteError `Code.InvalidStrategy` (`x-error-routing: true`) when the header does not parse or names an
   *   unregistered strategy; `Code.UnknownModel` (`x-error-no-model-backends: <model>`) when no pod serves the
   *   model. Returns `{ t: "none", code: Code.NoReadyPod }` when pods exist but none is ready (or filters leave
   *   none). A strategy that throws is a bug; its error propagates unchanged.
   */
  route(input: RouteInput): Pick;
  /**
   * As `route`, but first prepares the prompt (tokens, block keys) when a strategy of the plan reads `"prefix"`; then
   * the answer is a promise. The pick and its reservation still happen in one synchronous step after preparation.
   */
  routeWithPrompt(input: RouteInput): Pick | Promise<Pick>;
}

/** The prompt of a decision for which nothing was tokenized. */
const NOT_PREPARED: PreparedPrompt = {
  tokens: undefined,
  context: "",
  unavailableReason: "not-prepared",
  keys: () => new BigUint64Array(0),
};

/** The error for a model no pod serves, as AIBrix words it. */
function unknownModel(model: string): RouteError {
  return new RouteError(Code.UnknownModel, `model ${model} does not exist`, {
    param: "model",
    openaiCode: "model_not_found",
    errorHeader: ["x-error-no-model-backends", model],
  });
}

/** Response headers every strategy of the plan adds for `pod`, in plan order. */
function responseHeadersOf(
  plan: StrategyPlan,
  ctx: RoutingContext,
  pod: Pod,
): readonly (readonly [string, string])[] {
  const out: (readonly [string, string])[] = [];
  for (const { strategy } of plan.entries) {
    if (strategy.responseHeaders) out.push(...strategy.responseHeaders(ctx, pod));
  }
  return out;
}

/**
 * Create a director. Validates `defaultStrategy` and that every configured strategy param names a registered type.
 *
 * @throws Error naming `defaultStrategy` when it does not resolve; the registry's `checkParams` error otherwise.
 */
export function createDirector(options: DirectorOptions): Director {
  const { registry, cluster, load } = options;
  const observer = options.observer ?? {};
  const random = options.random ?? Math.random;
  const metricsView = options.metrics;
  const preparePrompt = options.preparePrompt;
  const remoteLoad = options.remoteLoad;
  const podLoad = (key: string): PodLoad => {
    const own = load.get(key);
    const others = remoteLoad?.(key) ?? 0;
    return others > 0 ? { requests: own.requests + others, tokens: own.tokens } : own;
  };
  const observations = options.observations;
  const scheduler = createScheduler({ observer, ...(options.nowMs ? { nowMs: options.nowMs } : {}) });

  registry.checkParams();
  const defaultStrategy = options.defaultStrategy.trim();
  try {
    registry.resolve(defaultStrategy);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`default routing strategy "${options.defaultStrategy}": ${why}`, { cause: err });
  }

  function releaseOnce(pod: Pod, releaseLoad: () => boolean, finishers: readonly RouteFinisher[]): Release {
    let released = false;
    return (outcome) => {
      if (released) return;
      released = true;
      releaseLoad();
      for (const finish of finishers) finish(outcome);
      observer.onRelease?.(pod, outcome);
    };
  }

  return {
    defaultStrategy,
    route: (input) => route(input, false) as Pick,
    routeWithPrompt: (input) => route(input, true),
  };

  function route(
    { requestId, request, headers, strategyHeader }: RouteInput,
    prepare: boolean,
  ): Pick | Promise<Pick> {
    // Resolve the spec before touching the fleet: a bad header is the client's error whatever the fleet state.
    const header = strategyHeader?.trim();
    const spec = header ? header : defaultStrategy;
    const plan = registry.resolve(spec);

    const all = podsForModel(cluster(), request.model);
    if (!all || all.length === 0) throw unknownModel(request.model);
    if (!all.some((p) => p.ready)) return { t: "none", code: Code.NoReadyPod, strategy: spec };

    const decide = (prompt: PreparedPrompt, pods: readonly Pod[]): Pick => {
      const ready = pods.filter((p) => p.ready);
      if (ready.length === 0) return { t: "none", code: Code.NoReadyPod, strategy: spec };
      return pick(plan, spec, ready, {
        requestId,
        request,
        headers,
        load: podLoad,
        random,
        metrics: (key) => metricsView?.fresh(key),
        observation: (key) => observations?.get(key),
        prompt,
      });
    };
    const needsPrompt = prepare && plan.entries.some((e) => e.strategy.reads.includes("prefix"));
    if (!needsPrompt || preparePrompt === undefined) return decide(NOT_PREPARED, all);
    // A LoRA adapter's blocks are cached apart from its base model's: key them in the adapter's context.
    const context = all.some((p) => p.adapters.includes(request.model)) ? request.model : "";
    // Re-read the fleet after tokenizing: it may have taken a while, and pods may have come or gone meanwhile.
    return preparePrompt(request, context).then((prompt) =>
      decide(prompt, podsForModel(cluster(), request.model) ?? []),
    );
  }

  /** Score, pick, reserve and tell the strategies: one synchronous step. */
  function pick(plan: StrategyPlan, spec: string, ready: readonly Pod[], ctx: RoutingContext): Pick {
    const decision = scheduler.schedule(plan, ctx, ready);
    if (decision.t === "none") return { t: "none", code: Code.NoReadyPod, strategy: spec };

    const pod = decision.pod;
    // Headers before the reservation: if a strategy throws here, nothing is left reserved.
    const responseHeaders = responseHeadersOf(plan, ctx, pod);
    // The reservation happens in the same synchronous step as the decision: the next route() call, even one
    // already queued on the event loop, sees this request in the pod's load.
    const releaseLoad = load.reserve(pod.key, ctx.request.promptTokens);
    const finishers: RouteFinisher[] = [];
    for (const { strategy } of plan.entries) {
      const finish = strategy.onRouted?.(ctx, pod);
      if (finish) finishers.push(finish);
    }
    const release = releaseOnce(pod, releaseLoad, finishers);
    return decision.t === "routed"
      ? { t: "routed", pod, strategy: spec, responseHeaders, release }
      : {
          t: "fallback",
          pod,
          strategy: spec,
          reason: decision.reason,
          fallbackTo: decision.fallbackTo,
          responseHeaders,
          release,
        };
  }
}
