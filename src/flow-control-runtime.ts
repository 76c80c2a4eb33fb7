/**
 * Wiring of flow control: its settings into the controller, the saturation signals it reads (the engine-metrics
 * store, the load tracker), the fleet, the output predictor, and its events into metrics. Kept out of
 * `server-runtimes.ts` because it is the one place that knows which setting feeds which part of flow control.
 *
 * @module
 */
import type { ClusterStore, EngineMetricsStore, LoadTracker } from "./cluster";
import { podsForModel } from "./cluster";
import type { Config } from "./config";
import type { Metrics } from "./observability";
import {
  createFlowController,
  createPrefillBacklog,
  createRunningSeats,
  parseObjectivePriorities,
} from "./routing";
import type { FlowController } from "./routing";
import type { UsageRuntime } from "./usage-runtime";

/** What flow control is built from. */
export interface FlowControlDeps {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly load: LoadTracker;
  readonly engineMetrics: EngineMetricsStore;
  readonly metrics: Metrics;
  readonly usage: UsageRuntime;
}

/**
 * Build flow control, or nothing when `--flow-control=false` (then the director runs exactly as without it).
 *
 * @throws Error naming `--flow-objective-priorities` when its text does not parse.
 */
export function createFlowControl(deps: FlowControlDeps): FlowController | undefined {
  const { config, cluster, load, engineMetrics, metrics, usage } = deps;
  if (!config.flowControl) return undefined;
  let objectives: ReadonlyMap<string, number>;
  try {
    objectives = parseObjectivePriorities(config.flowObjectivePriorities ?? "");
  } catch (e) {
    throw new Error(
      `--flow-objective-priorities (KVROUTE_FLOW_OBJECTIVE_PRIORITIES): ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const model = (m: string): string => metrics.modelLabel.admit(m);
  const seats = createRunningSeats();
  const prefillBacklog = createPrefillBacklog();
  const flow = createFlowController({
    queue: {
      limits: {
        maxQueued: config.flowMaxQueued,
        maxQueuedPerBand: config.flowMaxQueuedPerBand,
        ttlMs: config.flowTtlMs,
      },
      fairness: config.flowFairness,
      order: config.flowOrder,
      fairnessWindowMs: config.flowFairnessWindowMs,
      maxFlows: config.flowMaxFlows,
    },
    thresholds: {
      queueDepth: config.flowQueueDepthThreshold,
      kvCacheUsage: config.flowKvCacheThreshold,
      podCapacityTokens: config.flowPodCapacityTokens > 0 ? config.flowPodCapacityTokens : undefined,
      podMaxRunning: config.flowPodMaxRunning > 0 ? config.flowPodMaxRunning : undefined,
      maxPrefillDelayMs: config.flowMaxPrefillDelayMs,
      reserve: { seats: config.flowReservedSeats, prefillShare: config.flowReservedPrefill },
    },
    topBandWindowMs: config.flowTopBandWindowMs,
    prefillBacklog,
    signals: {
      fresh: (key) => {
        // Learned where it is read: every check sees the pod's current scrape, and a scrape seen twice is a no-op.
        const m = engineMetrics.fresh(key);
        if (m !== undefined) {
          seats.observe(key, m);
          prefillBacklog.observe(key, m);
        }
        return m;
      },
      lastKnown: (key) => engineMetrics.lastGood(key),
      load: (key) => load.get(key),
      runningSeats: (key) => seats.get(key),
      prefillDelayMs: (key, waiting) => prefillBacklog.delayMs(key, waiting),
    },
    pods: (m) => podsForModel(cluster.snapshot(), m),
    // The same tenant key as tenant budgets: one tenant is one tenant everywhere.
    tenantHeader: config.tenantHeader?.toLowerCase(),
    objectives,
    recheckMs: config.flowRecheckIntervalMs,
    predictOutput: (m, promptTokens) => usage.predictor.predictOrCold(m, promptTokens),
    observer: {
      onSaturationCheck: (m, result) => metrics.flowSaturationChecks.inc({ model: model(m), result }),
      onDispatched: (m, band, waitedMs) => {
        metrics.flowDispatched.inc({ model: model(m), band: String(band) });
        metrics.flowQueueWaitSeconds.observe({ model: model(m) }, waitedMs / 1000);
      },
      onDropped: (m, band, reason) =>
        metrics.flowDropped.inc({ model: model(m), band: String(band), reason }),
      onCancelled: (m) => metrics.flowCancelled.inc({ model: model(m) }),
    },
  });
  metrics.setFlowQueueSource(() => flow.sizes());
  return flow;
}
