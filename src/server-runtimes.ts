/**
 * The server's back end, started before any port is bound: metrics, load and engine-metrics stores, the headroom
 * queue, the Redis-backed usage runtime, the KV-cache runtime, passive health and the routing runtime. Each piece
 * that holds a connection, a socket, a thread or a timer registers its disposer as soon as it has started, so a
 * start failing later (a bad KV-event setting, a port taken) closes it.
 *
 * Start order is the reverse of the close order a drain needs (usage, then the KV-cache runtime, then passive
 * health, which forgets prefixes in the KV-cache runtime, and is closed before it).
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import type { ClusterStore } from "./cluster";
import { endpointName } from "./cluster";
import { createLoadTracker } from "./cluster";
import type { LoadTracker } from "./cluster";
import { createEngineMetricsStore } from "./cluster";
import type { EngineMetricsStore } from "./cluster";
import { createObservations } from "./cluster";
import type { Observations } from "./cluster";
import type { Config } from "./config";
import type { RegisterPiece } from "./lifecycle";
import { startHealthRuntime } from "./health-runtime";
import type { HealthRuntime } from "./health-runtime";
import { startKvCacheRuntime } from "./kv-cache-runtime";
import type { KvCacheRuntime } from "./kv-cache-runtime";
import type { Logger } from "./observability";
import { createMetrics } from "./observability";
import type { Metrics } from "./observability";
import { createHeadroomQueue } from "./routing";
import type { HeadroomQueue } from "./routing";
import type { FlowController } from "./routing";
import { createFlowControl } from "./flow-control-runtime";
import { createRoutingRuntime } from "./routing-runtime";
import type { RoutingRuntime } from "./routing-runtime";
import { kvrouteVersion } from "./version";
import { startUsageRuntime } from "./usage-runtime";
import type { UsageRuntime } from "./usage-runtime";

/** What {@link startRuntimes} needs. */
export interface RuntimeDeps {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly log: Logger;
  readonly processMetrics?: boolean | undefined;
  readonly random?: (() => number) | undefined;
  readonly healthNow?: (() => number) | undefined;
  readonly speculativeNow?: (() => number) | undefined;
  readonly usageWallNow?: (() => number) | undefined;
  /** Redis command timeout, ms (tests); default the usage area's. */
  readonly usageRedisTimeoutMs?: number | undefined;
  readonly logDroppedLines?: (() => number) | undefined;
}

/** The started back end. */
export interface Runtimes {
  readonly now: () => number;
  readonly load: LoadTracker;
  readonly engineMetrics: EngineMetricsStore;
  readonly observations: Observations;
  readonly metrics: Metrics;
  readonly headroomQueue: HeadroomQueue;
  /** Flow control in front of every strategy; undefined when `--flow-control=false`. */
  readonly flowControl: FlowController | undefined;
  readonly usage: UsageRuntime;
  readonly kvCache: KvCacheRuntime;
  readonly passiveHealth: HealthRuntime;
  readonly routing: RoutingRuntime;
  /** The pod's metric label for a pod key (admitted under the pod label limit). */
  readonly podName: (key: string) => string;
}

/** Start the back end; every started piece is registered through `piece` as it starts. Rejects on a bad setting. */
export async function startRuntimes(deps: RuntimeDeps, piece: RegisterPiece): Promise<Runtimes> {
  const { config, cluster, log } = deps;
  const now = (): number => performance.now();
  const load = createLoadTracker();
  const engineMetrics = createEngineMetricsStore({ staleAfterMs: config.metricsStaleAfterMs, now });
  const observations = createObservations({ now });
  const metrics = createMetrics(load, cluster, {
    processMetrics: deps.processMetrics ?? true,
    build: { version: buildVersion() },
    maxPodSeries: config.metricsPodLabelLimit,
    stalePods: () => engineMetrics.staleCount(),
    ...(deps.logDroppedLines ? { logDroppedLines: deps.logDroppedLines } : {}),
  });
  const podName = (key: string): string => {
    const pod = cluster.snapshot().pods.get(key);
    return metrics.podLabel.admit(pod === undefined ? key : endpointName(pod));
  };
  const headroomQueue = createSloQueue(config, metrics);
  // Late-bound: flow control reads the usage runtime's output predictor, and usage wakes it on new GPU profiles.
  const late: { flow?: FlowController | undefined } = {};
  const wakeAll = (): void => {
    headroomQueue.wakeAll();
    late.flow?.wakeAll();
  };
  const usage = startUsage(
    config,
    log,
    cluster,
    load,
    headroomQueue,
    wakeAll,
    metrics,
    deps.usageWallNow,
    deps.usageRedisTimeoutMs,
  );
  piece("usage", () => usage.close());
  const flowControl = createFlowControl({ config, cluster, load, engineMetrics, metrics, usage });
  late.flow = flowControl;
  if (flowControl !== undefined) piece("flow-control", () => flowControl.close());
  const kvCache = await startKvCacheRuntime({
    config,
    cluster,
    engineMetrics,
    metrics,
    log,
    ...(deps.speculativeNow ? { speculativeNow: deps.speculativeNow } : {}),
  });
  piece("kv-cache", () => kvCache.close());
  const passiveHealth = startHealthRuntime({
    config,
    cluster,
    metrics,
    log,
    now: deps.healthNow ?? now,
    dropRoutedPrefixes: (key) => kvCache.deps.approximate.dropPod(key),
  });
  piece("passive-health", () => passiveHealth.close());
  const routing = createRoutingRuntime({
    config,
    cluster,
    load,
    engineMetrics,
    observations,
    kvCache,
    usage,
    headroomQueue,
    flowControl,
    passiveHealth,
    metrics,
    log,
    ...(deps.random ? { random: deps.random } : {}),
  });
  // Its keep-alive sockets to prefill pods would otherwise hold the process open after a drain.
  piece("pd-prefill-client", () => routing.prefillClient.close());
  return {
    now,
    load,
    engineMetrics,
    observations,
    metrics,
    headroomQueue,
    flowControl,
    usage,
    kvCache,
    passiveHealth,
    routing,
    podName,
  };
}

/** SLO strategies: requests wait here for a pod with headroom (bounded per model, counted by model). */
function createSloQueue(config: Config, metrics: Metrics): HeadroomQueue {
  const sloEvent = (event: string) => (model: string) =>
    metrics.sloQueueEvents.inc({ model: metrics.modelLabel.admit(model), event });
  const headroomQueue = createHeadroomQueue({
    maxQueuedPerModel: config.sloQueueMax,
    maxWaitMs: config.sloQueueMaxWaitMs,
    observer: {
      onEnqueued: sloEvent("enqueued"),
      onRejected: sloEvent("rejected"),
      onTimeout: sloEvent("timeout"),
      onCancelled: sloEvent("cancelled"),
      onDequeued: sloEvent("dequeued"),
    },
  });
  metrics.setSloQueueSource(() => headroomQueue.lengths());
  return headroomQueue;
}

/** The Redis-backed usage runtime, its events counted. */
function startUsage(
  config: Config,
  log: Logger,
  cluster: ClusterStore,
  load: LoadTracker,
  headroomQueue: HeadroomQueue,
  wakeAll: () => void,
  metrics: Metrics,
  wallNow: (() => number) | undefined,
  redisTimeoutMs: number | undefined,
): UsageRuntime {
  return startUsageRuntime(config, log, {
    cluster,
    load,
    ...(wallNow ? { wallNow } : {}),
    ...(redisTimeoutMs === undefined ? {} : { redisTimeoutMs }),
    queueLength: (model) => headroomQueue.length(model),
    onGpuProfiles: wakeAll,
    onReplicaSyncFailure: (reason) => metrics.errors.inc({ reason: `replica-sync:${reason}` }),
    onRedisState: (state) => {
      metrics.redisUp.set(state === "up" ? 1 : 0);
      metrics.redisTransitions.inc({ state });
    },
    onRedisBreaker: (state) => metrics.redisBreakerTransitions.inc({ state }),
    onTraceUntracked: () => metrics.traceUntracked.inc(),
    onTraceFlush: (r) =>
      metrics.traceFlushes.inc({ result: r.failure === undefined ? "written" : "deferred" }),
    onModelRpsCheck: (outcome) => metrics.modelRpsChecks.inc({ outcome }),
    userLimitObserver: {
      onCheck: (outcome) => metrics.userLimitChecks.inc({ outcome }),
      onCharge: (outcome) => metrics.userTpmCharges.inc({ outcome }),
    },
    budgetObserver: {
      onCheck: (outcome) => metrics.tenantBudgetChecks.inc({ outcome }),
      onWrite: (outcome) => metrics.tenantBudgetWrites.inc({ outcome }),
    },
  });
}

/** kvroute's version for `kvroute_build_info`; `unknown` (the metric still renders) when no package.json says. */
function buildVersion(): string {
  try {
    return kvrouteVersion();
  } catch {
    return "unknown";
  }
}
