/**
 * Wiring of the Redis-backed usage features: the connection (optional; never blocks routing), the request
 * traces AIBrix's GPU optimizer reads, and the in-flight load shared between kvroute replicas. Without Redis these features are off, and kvroute says so once at start.
 *
 * @module
 */
import { closeEach } from "./closing";
import type { Config } from "./config";
import type { SessionHooks } from "./extproc";
import type { Logger } from "./observability";
import type { ClusterStore } from "./cluster";
import type { LoadTracker } from "./cluster";
import { RequestTraceWriter, createRedisConnection } from "./usage";
import { createReplicaLoadSync } from "./usage";
import type { ReplicaLoadSync } from "./usage";
import { createModelRpsLimiter } from "./usage";
import type { ModelRpsLimiter, ModelRpsOutcome } from "./usage";
import type { FlushResult, RedisConnection, RedisConnectionState, UserLimits } from "./usage";
import type { RedisBreakerState } from "./usage";
import { createUserLimits } from "./usage";
import { createUserAdmission } from "./usage";
import { OutputPredictor, createGpuProfiles } from "./usage";
import type { GpuProfileRefreshResult, GpuProfiles } from "./usage";
import type { AdmissionObserver, UserAdmission } from "./usage";
import { createRedisTokenBudget, createTenantBudgets, createTenantTokenWindows } from "./usage";
import type { BudgetObserver, TenantBudgetSettings, TenantBudgets } from "./usage";

/** The usage features that are on, and their request-path hooks. */
export interface UsageRuntime {
  readonly redis: RedisConnection | undefined;
  readonly traces: RequestTraceWriter | undefined;
  /** Load other replicas report through Redis. */
  readonly replicaLoad: ReplicaLoadSync | undefined;
  /** Per-model RPS windows (config profiles' `requestsPerSecond`); without Redis the limit is not enforced. */
  readonly modelRps: ModelRpsLimiter | undefined;
  /** Per-user RPM/TPM limits (AIBrix keys), and the request path's admission over them. */
  readonly userLimits: UserLimits | undefined;
  readonly admission: UserAdmission | undefined;
  /**
   * The session's pre-route hook: tenant token budgets reserved at admission and settled on completion (in Redis
   * with the user limits above, else in memory); undefined when nothing is limited (no Redis and no tenant budget).
   */
  readonly budgets: TenantBudgets | undefined;
  /** Output lengths of finished requests by model and prompt length (the SLO strategies' prediction); always on. */
  readonly predictor: OutputPredictor;
  /** GPU profiles the AIBrix GPU optimizer publishes (refreshed every 10 s); undefined without Redis. */
  readonly gpuProfiles: GpuProfiles | undefined;
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
    /** The Redis hang breaker opened or closed (metrics). */
    onRedisBreaker?: (state: RedisBreakerState) => void;
    /** A request-trace flush finished (metrics). */
    onTraceFlush?: (r: FlushResult) => void;
    /** A trace record refused because the traced-model bound was full. */
    onTraceUntracked?: () => void;
    /** A per-model RPS check ended (metrics). */
    onModelRpsCheck?: (outcome: ModelRpsOutcome) => void;
    /** User-limit check and TPM charge outcomes (metrics). */
    userLimitObserver?: AdmissionObserver;
    /** Tenant token budget check and write outcomes (metrics). */
    budgetObserver?: BudgetObserver;
    /** Requests of a model waiting for headroom (`meta_queueing_reqs` of the traces); default 0. */
    queueLength?: (model: string) => number;
    /** GPU profiles were refreshed (waiters may fit under the new profiles). */
    onGpuProfiles?: () => void;
    /** Wall clock of the rate windows (user RPM/TPM, model RPS), Unix epoch ms. Default `Date.now`. */
    wallNow?: () => number;
    /** Redis command timeout, ms. Default the connection's own (500 ms). */
    redisTimeoutMs?: number;
  },
): UsageRuntime {
  const predictor = new OutputPredictor();
  // AIBrix feeds the predictor from DoneRequestTrace, i.e. only with tracing on; kvroute learns from every finished
  // request with usage, with or without Redis, so the SLO strategies' predictions do not depend on tracing.
  const withPredictor = (
    hooks: Pick<SessionHooks, "onDecision" | "onFinished">,
  ): Pick<SessionHooks, "onDecision" | "onFinished"> => ({
    ...hooks,
    onFinished: (r) => {
      hooks.onFinished?.(r);
      if (r.model !== undefined && r.promptTokens !== undefined && r.completionTokens !== undefined)
        predictor.record(r.model, r.promptTokens, r.completionTokens);
    },
  });
  const configured = config.redisUrl !== undefined || config.redisHost !== undefined;
  if (!configured) {
    log.info(
      {},
      "redis not configured: request traces, user and model rate limits, GPU profiles (slo strategies fall back) and replica load sync are off",
    );
    if (config.gpuOptimizerTracing)
      log.warn({}, "AIBRIX_GPU_OPTIMIZER_TRACING_FLAG is set but there is no Redis");
    return {
      redis: undefined,
      traces: undefined,
      replicaLoad: undefined,
      modelRps: undefined,
      userLimits: undefined,
      admission: undefined,
      budgets: inMemoryBudgets(config, predictor, fleet),
      predictor,
      gpuProfiles: undefined,
      hooks: withPredictor({}),
      close: async () => undefined,
    };
  }
  const redis = createRedisConnection({
    host: config.redisHost ?? "localhost",
    port: config.redisPort,
    ...(config.redisPassword === undefined ? {} : { password: config.redisPassword }),
    ...(config.redisUrl === undefined ? {} : { url: config.redisUrl }),
    log,
    ...(fleet.redisTimeoutMs === undefined ? {} : { timeoutMs: fleet.redisTimeoutMs }),
    ...(fleet.onRedisState ? { onStateChange: fleet.onRedisState } : {}),
    ...(fleet.onRedisBreaker ? { onBreakerChange: fleet.onRedisBreaker } : {}),
  });
  const traces = config.gpuOptimizerTracing
    ? new RequestTraceWriter({
        redis,
        log,
        ...(fleet.onTraceFlush ? { onFlush: fleet.onTraceFlush } : {}),
        ...(fleet.onTraceUntracked ? { onUntracked: fleet.onTraceUntracked } : {}),
        ...(fleet.queueLength ? { queueLength: fleet.queueLength } : {}),
      })
    : undefined;
  traces?.start();
  const onGpuProfiles = fleet.onGpuProfiles;
  const gpuProfiles = createGpuProfiles({
    redis,
    log,
    ...(onGpuProfiles
      ? {
          onRefresh: (r: GpuProfileRefreshResult) => {
            if (r.ok && r.updated > 0) onGpuProfiles();
          },
        }
      : {}),
  });
  gpuProfiles.start();
  const replicaLoad = createReplicaLoadSync({
    redis,
    gatewayName: config.gatewayPodName,
    cluster: fleet.cluster,
    load: fleet.load,
    ...(fleet.onReplicaSyncFailure ? { onFailure: fleet.onReplicaSyncFailure } : {}),
  });
  replicaLoad.start();
  const modelRps = createModelRpsLimiter({
    redis,
    ...(fleet.wallNow ? { nowMs: fleet.wallNow } : {}),
    ...(fleet.onModelRpsCheck ? { onCheck: fleet.onModelRpsCheck } : {}),
  });
  const userLimits = createUserLimits({ redis, log, ...(fleet.wallNow ? { now: fleet.wallNow } : {}) });
  const admission = createUserAdmission({
    limits: userLimits,
    ...(fleet.userLimitObserver ? { observer: fleet.userLimitObserver } : {}),
  });
  // A user's TPM and a tenant's budget are reserved at admission and settled (or the usage of a request admitted
  // unreserved charged) when it ends, through the hook's own `finished`: nothing to do in `onFinished`.
  const budgets = createTenantBudgets({
    settings: budgetSettings(config),
    store: {
      t: "redis",
      users: admission,
      ledger: createRedisTokenBudget({
        redis,
        ...(fleet.wallNow ? { now: fleet.wallNow } : {}),
        ...(fleet.budgetObserver?.onWrite ? { onWrite: fleet.budgetObserver.onWrite } : {}),
      }),
    },
    predict: (model, promptTokens) => predictor.predict(model, promptTokens),
    ...(fleet.budgetObserver ? { observer: fleet.budgetObserver } : {}),
  });
  return {
    redis,
    traces,
    replicaLoad,
    modelRps,
    userLimits,
    admission,
    budgets,
    predictor,
    gpuProfiles,
    hooks: withPredictor(
      traces
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
    ),
    // Each piece closes even when another fails to; the connection goes last, after charges already started.
    close: () =>
      closeEach(
        [
          { name: "gpu-profiles", close: () => gpuProfiles.stop() },
          { name: "replica-load", close: () => replicaLoad.stop() },
          { name: "request-traces", close: () => traces?.stop() },
          { name: "user-charges", close: () => budgets.settled() },
          { name: "redis", close: () => redis.close() },
        ],
        (piece, error) => log.error({ piece, error: (error as Error).message }, "usage: close failed"),
      ),
  };
}

/** The configured tenant budgets, as the hook reads them. */
function budgetSettings(config: Config): TenantBudgetSettings {
  return {
    // Header names arrive lower-case; the setting may be written in any case.
    tenantHeader: config.tenantHeader?.toLowerCase(),
    defaultTpm: config.tenantTpm,
    overrides: new Map(config.tenantTpmOverrides),
  };
}

/**
 * Without Redis: tenant budgets counted in this replica's memory, when any is configured (a `user` header names no
 * record then: it is only a tenant key).
 */
function inMemoryBudgets(
  config: Config,
  predictor: OutputPredictor,
  fleet: { budgetObserver?: BudgetObserver; wallNow?: () => number },
): TenantBudgets | undefined {
  const observer = fleet.budgetObserver;
  if (config.tenantTpm === 0 && config.tenantTpmOverrides.every(([, tpm]) => tpm === 0)) return undefined;
  return createTenantBudgets({
    settings: budgetSettings(config),
    store: { t: "memory", windows: createTenantTokenWindows(fleet.wallNow ? { now: fleet.wallNow } : {}) },
    predict: (model, promptTokens) => predictor.predict(model, promptTokens),
    ...(observer ? { observer } : {}),
  });
}
