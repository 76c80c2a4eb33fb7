/**
 * Wiring of routing: the strategy registry (built-in strategies with their settings and the prefix, SLO and usage
 * facts they read) and the director over it, with the director's outcomes turned into metrics, log lines and
 * per-pod observations. Kept out of `server.ts` because it is the one place that knows which setting feeds which
 * strategy; the server only hands over the runtimes the strategies read from.
 *
 * @module
 */
import type { ClusterStore } from "./cluster";
import type { LoadTracker } from "./cluster";
import type { EngineMetricsStore } from "./cluster";
import type { Observations } from "./cluster";
import type { Config } from "./config";
import type { HealthRuntime } from "./health-runtime";
import type { KvCacheRuntime } from "./kv-cache-runtime";
import type { Logger } from "./observability";
import type { Metrics } from "./observability";
import {
  createDirector,
  createPromptTokenCalibration,
  createPdRouter,
  createPrefillClient,
  createStrategyRegistry,
  registerBuiltins,
} from "./routing";
import type { Director, PdRouter, PrefillClient, PromptTokenCalibration, StrategyRegistry } from "./routing";
import type { FlowController, HeadroomQueue } from "./routing";
import type { UsageRuntime } from "./usage-runtime";
import { PendingLoadAccumulator } from "./cluster";

/** What routing is built from. */
export interface RoutingRuntimeDeps {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly load: LoadTracker;
  readonly engineMetrics: EngineMetricsStore;
  readonly observations: Observations;
  readonly kvCache: KvCacheRuntime;
  readonly usage: UsageRuntime;
  readonly headroomQueue: HeadroomQueue;
  /** Flow control in front of every strategy; undefined when off. */
  readonly flowControl: FlowController | undefined;
  readonly passiveHealth: HealthRuntime;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Injected randomness for deterministic tests. */
  readonly random?: () => number;
}

/** The strategies known to this replica and the director that picks pods with them. */
export interface RoutingRuntime {
  readonly strategies: StrategyRegistry;
  readonly director: Director;
  /** The director with the P/D decision for `pd` requests (prefill pod, hop, decode pod): what sessions route with. */
  readonly router: PdRouter;
  /** The prefill hop's HTTP client (closed at shutdown). */
  readonly prefillClient: PrefillClient;
}

/**
 * Build the strategy registry and the director. Throws (naming `--routing-algorithm`) when the default strategy
 * is invalid, and whatever `checkParams` throws for a strategy's settings.
 */
export function createRoutingRuntime(deps: RoutingRuntimeDeps): RoutingRuntime {
  const { config, cluster, kvCache, usage, passiveHealth, metrics, log, observations } = deps;
  const strategies = createStrategyRegistry({
    deps: {
      now: Date.now,
      prefix: kvCache.deps,
      slo: {
        profileFor: (model, pod) => usage.gpuProfiles?.getForPod(model, pod),
        pending: new PendingLoadAccumulator(),
        predictOutput: (model, promptTokens) => usage.predictor.predictOrCold(model, promptTokens),
      },
    },
    params: {
      "prefix-cache": {
        imbalanceAbsCount: config.prefixImbalanceAbsCount,
        stdDevFactor: config.prefixStdDevFactor,
      },
      "prefix-affinity": {
        threshold: config.prefixAffinityThreshold,
        ttftPenaltySeconds: config.prefixAffinityTtftPenaltyMs / 1000,
        prefillTokensPerSecond: Object.fromEntries(config.prefixAffinityPrefillThroughput),
      },
      "vtc-basic": {
        windowSize: config.vtcWindowSize,
        timeUnit: config.vtcTimeUnit,
        minTokens: config.vtcMinTokens,
        maxTokens: config.vtcMaxTokens,
        maxPodLoad: config.vtcMaxPodLoad,
        inputTokenWeight: config.vtcInputTokenWeight,
        outputTokenWeight: config.vtcOutputTokenWeight,
        fairnessWeight: config.vtcFairnessWeight,
        utilizationWeight: config.vtcUtilizationWeight,
        maxUsers: config.vtcMaxUsers,
      },
    },
  });
  registerBuiltins(strategies);
  strategies.checkParams();
  // Always on: the in-flight token work every load-aware part reads is only as right as the estimate.
  const promptCalibration = createPromptTokenCalibration();
  try {
    const director = createDirector({
      registry: strategies,
      cluster: () => cluster.snapshot(),
      load: deps.load,
      defaultStrategy: config.routingAlgorithm,
      metrics: deps.engineMetrics,
      observations,
      promptCalibration,
      preparePrompt: kvCache.preparePrompt,
      ...(usage.replicaLoad ? { remoteLoad: usage.replicaLoad.remote } : {}),
      headroomQueue: deps.headroomQueue,
      ...(deps.flowControl ? { flowControl: deps.flowControl } : {}),
      ...(passiveHealth.gate ? { health: passiveHealth.gate } : {}),
      emitEndpointScores: config.emitEndpointScores,
      ...(usage.modelRps ? { modelRateLimit: usage.modelRps } : {}),
      ...(deps.random ? { random: deps.random } : {}),
      observer: {
        onFallback: (strategy, reason) => metrics.fallbacks.inc({ strategy, reason }),
        onBadScore: (type) => metrics.badScores.inc({ strategy: type }),
        onTestSelection: (outcome) => metrics.testSelections.inc({ outcome }),
        onHookError: (strategy, hook, err) => {
          metrics.strategyHookErrors.inc({ strategy, hook });
          log.error(
            { strategy, hook, err },
            "routing strategy hook threw; request routed and released anyway",
          );
        },
        onRelease: (pod, outcome) =>
          observations.record(pod.key, {
            success: outcome.kind === "success",
            ...(outcome.firstTokenMs === undefined ? {} : { firstTokenMs: outcome.firstTokenMs }),
            ...(outcome.durationMs === undefined ? {} : { durationMs: outcome.durationMs }),
            ...(outcome.completionTokens === undefined ? {} : { completionTokens: outcome.completionTokens }),
          }),
      },
    });
    const pd = createPd(deps, strategies, director, promptCalibration);
    return { strategies, director, ...pd };
  } catch (e) {
    throw new Error(`--routing-algorithm (ROUTING_ALGORITHM): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The P/D step over the director: its prefill client and metrics.
 *
 * @throws Error naming `--pd-prefill-strategy` when that spec does not resolve.
 */
function createPd(
  deps: RoutingRuntimeDeps,
  strategies: StrategyRegistry,
  director: Director,
  promptCalibration: PromptTokenCalibration,
): Pick<RoutingRuntime, "router" | "prefillClient"> {
  const { config, metrics } = deps;
  try {
    strategies.resolve(config.pdPrefillStrategy);
  } catch (e) {
    throw new Error(`--pd-prefill-strategy: ${(e as Error).message}`, { cause: e });
  }
  const prefillClient = createPrefillClient({
    timeoutMs: config.pdPrefillRequestTimeoutSeconds * 1000,
    maxConcurrent: config.pdPrefillMaxConcurrency,
  });
  const router = createPdRouter({
    director,
    registry: strategies,
    cluster: () => deps.cluster.snapshot(),
    client: prefillClient,
    prefillStrategy: config.pdPrefillStrategy,
    minPrefillTokens: config.pdMinPrefillTokens,
    // The threshold counts the prompt's uncached tokens on the best decode pod (the prefix indexes say which).
    preparePrompt: deps.kvCache.preparePrompt,
    prefix: deps.kvCache.deps,
    promptCalibration,
    connector: config.pdKvConnectorType,
    ...(deps.random ? { random: deps.random } : {}),
    observer: {
      onPrefill: (ok, seconds) => metrics.pdPrefillSeconds.observe({ result: ok ? "ok" : "error" }, seconds),
      onSkip: (reason) => metrics.pdSkips.inc({ reason }),
      onPair: (roleset) => metrics.pdPairs.inc({ roleset: metrics.pdRolesetLabel.admit(roleset) }),
    },
  });
  return { router, prefillClient };
}
