/**
 * The director turns one parsed request into a {@link Pick}: choose the strategy spec, find the model's ready pods,
 * run the scheduler, and reserve load on the chosen pod in the same synchronous step, so two decisions taken
 * back to back never both see the pod as idle.
 *
 * @module
 */
import { podsForModel, promptContext } from "../cluster";
import type {
  ClusterSnapshot,
  EngineMetricsView,
  HealthGate,
  LoadTracker,
  Observations,
  Pod,
  PodLoad,
} from "../cluster";
import { echoClientText } from "../client-echo";
import { Code, RouteError } from "../errors";
import type { InferenceRequest } from "../request";
import type { PreparedPrompt, StreamedPrompt } from "../prefix";
import type { HeaderView, Outcome, Pick } from "./framework";
import type { StrategyPlan, StrategyRegistry } from "./registry";
import type { HeadroomQueue } from "./headroom-queue";
import type { FlowController, RoomFilter } from "./flow/flow-controller";
import { settleOnRelease } from "./flow/flow-charge";
import { createScheduler, type SchedulerObserver } from "./scheduler";
import { requestStrategy } from "./config-profile";
import { admitThen, withProfileHeader, type ModelRateLimit } from "./rps-admission";
import { createPickStep, WAITING, type Waiting } from "./pick-step";
import { narrowToSelection } from "./test-selection";
import type { RoutePhases } from "./route-phases";
import { calibratedPromptTokens, type PromptTokenCalibration } from "./prompt-token-calibration";

/** Scheduler hooks plus the end of a routed request. Every hook is optional and must not throw. */
export interface DirectorObserver extends SchedulerObserver {
  /** A pick was released: called exactly once per `routed`/`fallback` pick, after its load was released. */
  onRelease?(pod: Pod, outcome: Outcome): void;
  /**
   * A strategy's `onRouted` or its finisher threw (a bug in that strategy; `strategy` is its registered type). The
   * request is routed all the same and its reservation is released exactly once; only that strategy's own
   * bookkeeping for the request is skipped.
   */
  onHookError?(strategy: string, hook: "on-routed" | "finish" | "move" | "first-token", err: unknown): void;
  /** A conformance test selection named some of the model's pods (`narrowed`) or none (`unmatched`, ignored). */
  onTestSelection?(outcome: "narrowed" | "unmatched"): void;
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
  /**
   * Per-model calibration of text prompts' token estimates against the engine's reported usage: fed by every pick's
   * release, read by the in-flight token reservation and flow control. Default: none, the raw estimate.
   */
  readonly promptCalibration?: PromptTokenCalibration;
  /** kvroute's own latency observations per pod; fed through `onRelease` by the caller. Default: none. */
  readonly observations?: { get: Observations["get"] };
  /**
   * Per-model requests-per-second admission, for requests whose config profile sets `requestsPerSecond`. Only
   * `routeWithPrompt` consults it (the synchronous `route` cannot wait for Redis). Default: none, no limit.
   */
  readonly modelRateLimit?: ModelRateLimit;
  /**
   * Tokenize the prompt and build its block keys, for plans with a strategy that reads `"prefix"`. Never rejects:
   * a failure yields a prompt without tokens (and a reason). Absent: prefix strategies see no tokens.
   */
  readonly preparePrompt?: (
    request: InferenceRequest,
    context: string,
    streamed?: StreamedPrompt,
    signal?: AbortSignal,
  ) => Promise<PreparedPrompt>;
  /** Monotonic clock in ms for strategy timings. Default `performance.now`. */
  readonly nowMs?: () => number;
  /**
   * Where `routeWithPrompt` parks a request when a strategy answers `wait` (no pod has headroom); the director
   * wakes the model's waiters whenever one of its picks is released. Absent, or on the synchronous `route`, a
   * `wait` answers `none`.
   */
  readonly headroomQueue?: HeadroomQueue;
  /**
   * Passive health: ejected pods are taken out of every decision's candidates before any strategy runs, a probing
   * pod's trial is counted on the pick, and every released pick reports its outcome. Default: none (all ready pods).
   */
  readonly health?: HealthGate;
  /**
   * Flow control in front of every strategy (`routeWithPrompt` only): after prompt preparation and before the pick,
   * a request of a saturated model (or one with others queued) waits in the flow queue. Absent: no flow control
   * (today's behaviour, at no cost).
   */
  readonly flowControl?: FlowController;
  /** Debug: picks carry their top `SCORED_ENDPOINTS` combined scores (`Pick.scores`). Default: false. */
  readonly emitEndpointScores?: boolean;
}

/** One request to route. */
export interface RouteInput {
  readonly requestId: string;
  readonly request: InferenceRequest;
  /** Request headers, lower-case keys. */
  readonly headers: HeaderView;
  /** Value of the `routing-strategy` request header, if any. Trimmed; empty counts as absent. */
  readonly strategyHeader: string | undefined;
  /**
   * Aborts when the request's stream ends or a drain refuses it before it was routed: a queued tokenizer job is
   * dropped, a request waiting for headroom leaves the queue at once, and nothing is scored or reserved after it
   * (the promise rejects with `aborted()`).
   */
  readonly signal?: AbortSignal;
  /** The prompt as hashed while a streamed body arrived; handed to `preparePrompt`, which checks it. */
  readonly streamed?: StreamedPrompt;
  /**
   * The gateway's endpoint subset (Gateway API Inference Extension): only pods whose `address` is in it are
   * candidates, before any strategy runs. Absent: every ready pod of the model.
   */
  readonly subset?: ReadonlySet<string>;
  /** Conformance test mode: the test header's entries; see `narrowToSelection`. Absent: no narrowing. */
  readonly testSelection?: ReadonlySet<string>;
  /** A traced request's phase marks (tokenize, queue, pick); absent when not traced. */
  readonly phases?: RoutePhases | undefined;
  /**
   * A second decision for a request already admitted (P/D: the decode pod after the prefill pod): not counted again
   * against its model's requests-per-second window, and not held by flow control a second time.
   */
  readonly counted?: boolean;
  /**
   * Prompt tokens the pick reserves on its pod (its in-flight token load), when not the request's estimate (P/D:
   * a decode pod given the prompt's KV does not compute the prompt). Absent: `request.promptTokens`.
   */
  readonly reserveTokens?: number;
  /**
   * The request's prompt, already prepared for this request (P/D: for the uncached-prompt threshold); a plan that
   * reads `"prefix"` uses it rather than tokenizing again. Absent: prepared here when needed.
   */
  readonly prompt?: PreparedPrompt;
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
   * When a strategy answers `wait` and a headroom queue is configured, the promise settles once a release makes
   * room (a pick), or rejects with the queue's `RouteError` (full: 429, timed out: 503, `input.signal` aborted).
   * Once `input.signal` aborts, no strategy runs and no load is reserved: the promise rejects (`Code.Unavailable`).
   * When the model's config profile sets `requestsPerSecond` and `modelRateLimit` is configured, the request is
   * first counted against the model's window: over the limit rejects with `Code.RateLimited`
   * (`x-error-model-rps-exceeded: true`) before anything is picked.
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

/** The rejection of a decision whose `signal` aborted before its pick (nobody reads it: the stream is gone). */
function aborted(): RouteError {
  return new RouteError(Code.Unavailable, "the request's stream ended before it was routed");
}

/** The error for a model no pod serves, as AIBrix words it. */
function unknownModel(model: string): RouteError {
  const shown = echoClientText(model);
  return new RouteError(Code.UnknownModel, `model ${shown} does not exist`, {
    param: "model",
    openaiCode: "model_not_found",
    errorHeader: ["x-error-no-model-backends", shown],
  });
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
  const headroomQueue = options.headroomQueue;
  const flowControl = options.flowControl;
  const health = options.health;
  const scheduler = createScheduler({ observer, ...(options.nowMs ? { nowMs: options.nowMs } : {}) });
  const pick = createPickStep({
    scheduler,
    load,
    observer,
    health,
    headroomQueue,
    flowControl: options.flowControl,
    emitEndpointScores: options.emitEndpointScores,
    promptCalibration: options.promptCalibration,
  });

  registry.checkParams();
  const defaultStrategy = options.defaultStrategy.trim();
  try {
    registry.resolve(defaultStrategy);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`default routing strategy "${options.defaultStrategy}": ${why}`, { cause: err });
  }

  return {
    defaultStrategy,
    route: (input) => withModelConfig(input, false) as Pick,
    routeWithPrompt: (input) => withModelConfig(input, true),
  };

  /**
   * The model's config profile and AIBrix's strategy precedence: locked strategy, header,
   * profile, default; then per-model RPS admission around the decision, and the profile's name as the
   * `x-aibrix-config-profile` response header.
   */
  function withModelConfig(input: RouteInput, prepare: boolean): Pick | Promise<Pick> {
    const { request } = input;
    const pods = podsForModel(cluster(), request.model);
    const { selection, spec } = requestStrategy(pods, input, defaultStrategy);
    // Resolve before any fleet check: a bad header (or locked strategy) is a 400 whatever the fleet state.
    const plan = registry.resolve(spec);
    const decide = (): Pick | Promise<Pick> => route(input, prepare, spec, plan, pods);
    // After the limiter's Redis round trip the fleet may have changed: read it again.
    const decideLater = (): Pick | Promise<Pick> =>
      route(input, prepare, spec, plan, podsForModel(cluster(), request.model));
    const limit = selection?.profile.requestsPerSecond;
    const limiter = prepare && input.counted !== true ? options.modelRateLimit : undefined;
    // Only a request that can be routed is counted: an unknown model or no ready pod answers without it.
    const picked =
      limiter && limit && pods?.some((p) => p.ready)
        ? admitThen(limiter, request.model, limit, decideLater)
        : decide();
    if (selection === undefined) return picked;
    return picked instanceof Promise
      ? picked.then((p) => withProfileHeader(p, selection.name))
      : withProfileHeader(picked, selection.name);
  }

  function route(
    {
      requestId,
      request,
      headers,
      signal,
      streamed,
      subset,
      testSelection,
      phases,
      counted,
      reserveTokens,
      prompt: given,
    }: RouteInput,
    prepare: boolean,
    spec: string,
    plan: StrategyPlan,
    // The model's pods as read once for this decision (the fleet is re-read only after an await).
    all: readonly Pod[] | undefined,
  ): Pick | Promise<Pick> {
    if (!all || all.length === 0) throw unknownModel(request.model);
    if (!all.some((p) => p.ready)) return { t: "none", code: Code.NoReadyPod, strategy: spec };
    const { matched } = narrowToSelection(all, testSelection);
    if (matched !== undefined) observer.onTestSelection?.(matched ? "narrowed" : "unmatched");

    const decide = (prompt: PreparedPrompt, pods: readonly Pod[], room?: RoomFilter): Pick | Waiting => {
      // Checked in the same synchronous step as the pick and its reservation: an aborted stream never holds load.
      if (signal?.aborted === true) throw aborted();
      const named = narrowToSelection(pods, testSelection).pods;
      const ready = named.filter((p) => p.ready && (subset === undefined || subset.has(p.address)));
      if (ready.length === 0) return { t: "none", code: Code.NoReadyPod, strategy: spec };
      phases?.mark("pick-start");
      const routable = health ? health.routable(ready) : ready;
      const picked = pick(
        plan,
        spec,
        room ? room(routable) : routable,
        {
          requestId,
          request,
          headers,
          load: podLoad,
          random,
          metrics: (key) => metricsView?.fresh(key),
          observation: (key) => observations?.get(key),
          prompt,
        },
        reserveTokens,
      );
      phases?.mark("pick-end");
      return picked;
    };
    /** Decide now; on `wait`, park in the headroom queue (async path only) and decide again on each wake. */
    const settle = (
      prompt: PreparedPrompt,
      pods: readonly Pod[],
      room?: RoomFilter,
    ): Pick | Promise<Pick> => {
      const queue = prepare ? headroomQueue : undefined;
      if (queue === undefined) {
        const now = decide(prompt, pods, room);
        return now.t === "wait" ? { t: "none", code: Code.NoReadyPod, strategy: spec } : now;
      }
      // Strict FIFO among requests that may wait: a newcomer does not overtake the model's earlier waiters into
      // room they are waiting for (they were woken first and did not fit, or will be woken by the next release).
      const behind = queue.length(request.model) > 0 && plan.entries.some((e) => e.strategy.mayWait === true);
      const now = behind ? WAITING : decide(prompt, pods, room);
      if (now.t !== "wait") return now;
      phases?.mark("queue-start");
      const waited = queue.wait(
        request.model,
        () => {
          // Re-read the fleet on every try: pods may have come, gone or turned unready while waiting.
          const again = decide(prompt, podsForModel(cluster(), request.model) ?? [], room);
          return again.t === "wait" ? undefined : again;
        },
        signal,
      );
      if (phases) {
        const left = (): void => phases.mark("queue-end");
        waited.then(left, left);
      }
      return waited;
    };
    // A strategy that reads the prefix index weighs a pod's cached blocks against its load itself (prefix-affinity's
    // gate is exactly that); narrowed to flow control's pods with room, which judges backlog and not this prompt's
    // hit, it lost most of its hits on the shared-prefix benchmark (75% to 21%). Load-only strategies are narrowed.
    const weighsCache = plan.entries.some((e) => e.strategy.reads.includes("prefix"));
    /** Flow control (async path only), then the decision; a dispatched request re-reads the fleet. */
    const admit = (prompt: PreparedPrompt, pods: readonly Pod[]): Pick | Promise<Pick> => {
      if (!prepare || flowControl === undefined || counted === true) return settle(prompt, pods);
      const flow = {
        requestId,
        model: request.model,
        headers,
        promptTokens: prompt.tokens?.length ?? calibratedPromptTokens(request, options.promptCalibration),
        maxTokens: request.maxTokens,
        signal,
      };
      return flowControl.admit(flow, pods, (charge, withRoom) => {
        const room = weighsCache ? undefined : withRoom;
        return charge === undefined
          ? settle(prompt, pods, room)
          : settleOnRelease(
              settle(prompt, podsForModel(cluster(), request.model) ?? [], room),
              charge,
              flow.promptTokens,
            );
      });
    };
    const needsPrompt = prepare && weighsCache;
    if (!needsPrompt || preparePrompt === undefined) return admit(NOT_PREPARED, all);
    if (given !== undefined) return admit(given, all);
    const context = promptContext(all, request.model);
    phases?.mark("prompt-start");
    // Re-read the fleet after tokenizing: it may have taken a while, and pods may have come or gone meanwhile.
    return preparePrompt(request, context, streamed, signal).then((prompt) => {
      phases?.mark("prompt-end");
      return admit(prompt, podsForModel(cluster(), request.model) ?? []);
    });
  }
}
