/**
 * Wiring of the Redis-backed usage features: the connection (optional; never blocks routing), the request
 * traces AIBrix's GPU optimizer reads, and the in-flight load shared between kvroute replicas. Without Redis these features are off, and kvroute says so once at start.
 *
 * @module
 */
import type { Config } from "./config";
import type { SessionHooks } from "./extproc/session";
import type { Logger } from "./observability/logger";
import type { ClusterStore } from "./cluster/cluster-state";
import type { LoadTracker } from "./cluster/load-tracker";
import { RequestTraceWriter, createRedisConnection } from "./usage";
import { createReplicaLoadSync } from "./usage/replica-load";
import type { ReplicaLoadSync } from "./usage/replica-load";
import type { FlushResult, RedisConnection, RedisConnectionState } from "./usage";

/** The usage features that are on, and their request-path hooks. */
export interface UsageRuntime {
  readonly redis: RedisConnection | undefined;
  readonly traces: RequestTraceWriter | undefined;
  /** Load other replicas report through Redis. */
  readonly replicaLoad: ReplicaLoadSync | undefined;
  /** Feed traces from routed and finished requests (no-ops when tracing is off). */
  readonly hooks: Pick<SessionHooks, "onDecision" | "onFinished">;
  close(): Promise<void>;
}

/** Connect to Redis when configured and start the enabled features. Never fails because Redis is down. */
export function startUsageRuntime(
  config: Config,
  log: Logger,
  fleet: {
    cluster: ClusterStore;
    load: LoadTracker;
    onReplicaSyncFailure?: (reason: string) => void;
    /** Redis went up or down (metrics). */
    onRedisState?: (state: RedisConnectionState) => void;
    /** A request-trace flush finished (metrics). */
    onTraceFlush?: (r: FlushResult) => void;
  },
): UsageRuntime {
  const configured = config.redisUrl !== undefined || config.redisHost !== undefined;
  if (!configured) {
    log.info({}, "redis not configured: request traces, user limits and replica load sync are off");
    if (config.gpuOptimizerTracing)
      log.warn({}, "AIBRIX_GPU_OPTIMIZER_TRACING_FLAG is set but there is no Redis");
    return {
      redis: undefined,
      traces: undefined,
      replicaLoad: undefined,
      hooks: {},
      close: async () => undefined,
    };
  }
  const redis = createRedisConnection({
    host: config.redisHost ?? "localhost",
    port: config.redisPort,
    ...(config.redisPassword === undefined ? {} : { password: config.redisPassword }),
    ...(config.redisUrl === undefined ? {} : { url: config.redisUrl }),
    log,
    ...(fleet.onRedisState ? { onStateChange: fleet.onRedisState } : {}),
  });
  const traces = config.gpuOptimizerTracing
    ? new RequestTraceWriter({ redis, log, ...(fleet.onTraceFlush ? { onFlush: fleet.onTraceFlush } : {}) })
    : undefined;
  traces?.start();
  const replicaLoad = createReplicaLoadSync({
    redis,
    gatewayName: config.gatewayPodName,
    cluster: fleet.cluster,
    load: fleet.load,
    ...(fleet.onReplicaSyncFailure ? { onFailure: fleet.onReplicaSyncFailure } : {}),
  });
  replicaLoad.start();
  return {
    redis,
    traces,
    replicaLoad,
    hooks: traces
      ? {
          onDecision: (_strategy, _seconds, model) => traces.addPending(model, 1),
          onFinished: (r) => {
            if (r.model === undefined || r.strategy === undefined) return;
            traces.addPending(r.model, -1);
            if (r.promptTokens !== undefined && r.completionTokens !== undefined) {
              traces.record(r.model, r.promptTokens, r.completionTokens);
            }
          },
        }
      : {},
    async close() {
      await replicaLoad.stop();
      await traces?.stop();
      await redis.close();
    },
  };
}
