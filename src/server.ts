/**
 * Builds kvroute's object graph once — registry, director, ext_proc service, health, admin HTTP, metrics — from a
 * `Config` and a `ClusterStore` fed by whatever discovery the caller runs. No module-level state: two servers in
 * one process (as tests run them) share nothing.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { podsForModel } from "./cluster/cluster-state";
import type { ClusterStore } from "./cluster/cluster-state";
import { endpointName } from "./cluster/pod";
import { createLoadTracker } from "./cluster/load-tracker";
import type { LoadTracker } from "./cluster/load-tracker";
import {
  createEngineMetricsStore,
  parseProblemCounts,
  startScraper,
  startScraperThread,
} from "./cluster/metrics";
import type { EngineMetricsStore, ScraperOptions } from "./cluster/metrics";
import { createObservations } from "./cluster/observations";
import { startKvCacheRuntime } from "./kv-cache-runtime";
import type { KvCacheRuntime } from "./kv-cache-runtime";
import type { Observations } from "./cluster/observations";
import type { Config } from "./config";
import { startAdminServer } from "./admin/http-server";
import type { AdminServer } from "./admin/http-server";
import { createGrpcHealth } from "./admin/grpc-health";
import { StartedPieces } from "./closing";
import type { Closer } from "./closing";
import { createDrain } from "./drain";
import type { DrainPlan } from "./drain";
import { createApiKeyCheck } from "./extproc/api-key";
import { createBodyBudget } from "./extproc/body-budget";
import { createExtProcService } from "./extproc/service";
import { observeHttp2SessionErrors } from "./grpc-stream-reset-limit";
import type { ExtProcService } from "./extproc/service";
import type { SessionHooks } from "./extproc/session";
import { startGrpcListeners } from "./grpc-listeners";
import { createGrpcServer } from "./grpc-server";
import { startUsageRuntime } from "./usage-runtime";
import { startHealthRuntime } from "./health-runtime";
import type { UsageRuntime } from "./usage-runtime";
import type { HealthRuntime } from "./health-runtime";
import type { Logger } from "./observability/logger";
import { createMetrics } from "./observability/metrics";
import type { Metrics } from "./observability/metrics";
import { createRequestReporter } from "./observability/request-reporter";
import { createPodDebugState } from "./pod-debug-state";
import { endpointForPath, parseRequest } from "./request";
import type { ParseLimits } from "./request";
import { createStrategyLabeler } from "./routing";
import { createHeadroomQueue } from "./routing/headroom-queue";
import type { HeadroomQueue } from "./routing/headroom-queue";
import { createRoutingRuntime } from "./routing-runtime";

/** Bound on a non-SSE response body buffered to read its usage. */
const MAX_RESPONSE_BUFFER_BYTES = 1 << 20;

/** What `createServer` needs besides configuration. */
export interface ServerDeps {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly log: Logger;
  /** Collect Node process metrics (default true). */
  readonly processMetrics?: boolean;
  /** Injected randomness for deterministic tests. */
  readonly random?: () => number;
  /** Scrape engine `/metrics` (default true; tests of the request path with unreachable pod IPs turn it off). */
  readonly scrapeMetrics?: boolean;
  /** Discovery status for `/debug/state`. */
  readonly discoveryStatus?: () => Record<string, unknown>;
  /**
   * Told each piece's name just before it is closed (on a drain or a failed start). A throw here counts as that
   * piece's close failing: tests use it to prove that the other pieces still close.
   */
  readonly onClosing?: (piece: string) => void;
  /** How often TLS certificate files are re-read, ms (tests shorten it). Default `TLS_REFRESH_INTERVAL_MS`. */
  readonly tlsRefreshIntervalMs?: number;
  /** Clock of passive health (ejection backoffs), ms. Default `performance.now`; tests step it to end backoffs. */
  readonly healthNow?: () => number;
  /** Log lines the process logger dropped at its buffer bound, for `kvroute_log_lines_dropped_total`. */
  readonly logDroppedLines?: () => number;
}

/** A running kvroute. */
export interface KvrouteServer {
  readonly grpcPort: number;
  /** Bound port of the health-only gRPC server (`--grpc-health-port`); `undefined` when there is none. */
  readonly grpcHealthPort: number | undefined;
  readonly httpPort: number;
  readonly load: LoadTracker;
  readonly metrics: Metrics;
  readonly engineMetrics: EngineMetricsStore;
  /** Redis-backed usage features (traces), when configured. */
  readonly usage: UsageRuntime;
  /** Requests waiting for a pod with headroom (SLO strategies). */
  readonly headroomQueue: HeadroomQueue;
  readonly observations: Observations;
  /** Passive health (outlier detection) and its per-pod facts. */
  readonly passiveHealth: HealthRuntime;
  readonly extProc: ExtProcService;
  /** Pods loaded and not draining. */
  isReady(): boolean;
  /**
   * Graceful stop (see `src/drain.ts`): readiness off, new streams still served for `delayMs`, then the listener
   * closes and open streams have `timeoutMs` to finish before the rest are cut (recorded as `shutdown`); then
   * every piece closes, each even when another fails. A bare number is `timeoutMs` with no delay. Resolves when
   * everything is closed, never rejects. Idempotent.
   */
  drain(plan: DrainPlan | number): Promise<void>;
  /** Skip what is left of a running drain's delay and wait for open streams (a second stop signal). */
  hurryDrain(): void;
}

/**
 * Build and start kvroute on the configured ports. Rejects (naming the setting) when the strategy is invalid, or
 * when a port cannot be bound; whatever was already started is closed first, so a failed start leaves nothing
 * running.
 */
export async function createServer(deps: ServerDeps): Promise<KvrouteServer> {
  const started = new StartedPieces();
  try {
    return await startPieces(deps, started);
  } catch (e) {
    await started.closeAll((piece, error) =>
      deps.log.error({ piece, error: (error as Error).message }, "failed start: close failed"),
    );
    throw e;
  }
}

async function startPieces(deps: ServerDeps, started: StartedPieces): Promise<KvrouteServer> {
  const { config, cluster, log } = deps;
  if (config.conformanceTestMode) {
    log.warn(
      "conformance test mode is on: a client's test-epp-endpoint-selection header narrows the choice of pod; " +
        "never enable it in production",
    );
  }
  /** Record a started piece (closed if the start fails); its close announces itself to `deps.onClosing` first. */
  const piece = (name: string, close: () => unknown): Closer => {
    const closer = {
      name,
      close: () => {
        deps.onClosing?.(name);
        return close();
      },
    };
    started.add(name, closer.close);
    return closer;
  };
  const now = (): number => performance.now();
  const load = createLoadTracker();
  const engineMetrics = createEngineMetricsStore({ staleAfterMs: config.metricsStaleAfterMs, now });
  const observations = createObservations({ now });
  const metrics = createMetrics(load, cluster, {
    processMetrics: deps.processMetrics ?? true,
    maxPodSeries: config.metricsPodLabelLimit,
    stalePods: () => engineMetrics.staleCount(),
    ...(deps.logDroppedLines ? { logDroppedLines: deps.logDroppedLines } : {}),
  });
  const podName = (key: string): string => {
    const pod = cluster.snapshot().pods.get(key);
    return metrics.podLabel.admit(pod === undefined ? key : endpointName(pod));
  };
  const kvCache: KvCacheRuntime = await startKvCacheRuntime({ config, cluster, engineMetrics, metrics, log });
  const kvCacheCloser = piece("kv-cache", () => kvCache.close());
  const passiveHealth = startHealthRuntime({
    config,
    cluster,
    metrics,
    log,
    now: deps.healthNow ?? now,
    dropRoutedPrefixes: (key) => kvCache.deps.approximate.dropPod(key),
  });
  const healthCloser = piece("passive-health", () => passiveHealth.close());
  // SLO strategies: requests wait here for a pod with headroom (bounded per model, counted by model).
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
  const usage = startUsageRuntime(config, log, {
    cluster,
    load,
    queueLength: (model) => headroomQueue.length(model),
    onGpuProfiles: () => headroomQueue.wakeAll(),
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
  });
  const usageCloser = piece("usage", () => usage.close());
  const { strategies, director } = createRoutingRuntime({
    config,
    cluster,
    load,
    engineMetrics,
    observations,
    kvCache,
    usage,
    headroomQueue,
    passiveHealth,
    metrics,
    log,
    ...(deps.random ? { random: deps.random } : {}),
  });

  // Readiness goes off when a drain starts; new requests are refused only once its delay is over.
  let draining = false;
  let refusing = false;
  // Ready also waits for the tokenizer workers' start-up loads (bounded), so no first long prompt waits for one.
  const isReady = (): boolean => cluster.snapshot().loaded && !draining && kvCache.tokenizersLoaded();
  const reporter = createRequestReporter(
    metrics,
    log,
    createStrategyLabeler(strategies.has, [director.defaultStrategy]),
  );
  const sessionHooks: SessionHooks = {
    ...reporter.sessionHooks,
    onDecision(strategy, seconds, model) {
      reporter.sessionHooks.onDecision?.(strategy, seconds, model);
      usage.hooks.onDecision?.(strategy, seconds, model);
    },
    onFinished(record) {
      reporter.sessionHooks.onFinished?.(record);
      usage.hooks.onFinished?.(record);
    },
    onStrategyHeaderIgnored: () => metrics.requestBounds.inc({ bound: "strategy-header" }),
    onSubsetHint: (outcome) => metrics.subsetHints.inc({ outcome }),
    onServed: (outcome) => metrics.servedEndpoints.inc({ outcome }),
    onTestSelection: (outcome) => metrics.testSelections.inc({ outcome }),
  };
  const limits: ParseLimits = {
    maxBodyBytes: config.maxBodyBytes,
    shape: { maxItems: config.maxMessages, maxDepth: config.maxJsonDepth },
    onShapeBound: (bound) => metrics.requestBounds.inc({ bound }),
  };
  const extProc = createExtProcService(
    {
      options: {
        maxBodyBytes: config.maxBodyBytes,
        requestBodyMode: config.requestBodyMode,
        responseBodyMode: config.responseBodyMode,
        sendBodyWithoutWaitingForHeaderResponse: config.sendBodyWithoutWaitingForHeaderResponse,
        maxResponseBufferBytes: MAX_RESPONSE_BUFFER_BYTES,
        allowStrategyHeader: config.allowStrategyHeader,
        conformanceTestMode: config.conformanceTestMode,
      },
      router: director,
      parse: (path, body) => parseRequest(path, body, limits),
      endpointKnown: (path) => endpointForPath(path) !== undefined,
      isDraining: () => refusing,
      apiKey: config.authBearerToken
        ? createApiKeyCheck(config.authBearerToken, () =>
            metrics.requestBounds.inc({ bound: "authorization-length" }),
          )
        : undefined,
      hooks: sessionHooks,
      now: () => performance.now(),
      admission: usage.admission,
      bodyBudget: createBodyBudget(config.maxBufferedBytes, (bytes) => metrics.bufferedBodyBytes.set(bytes)),
      streamPrompt: (path) => kvCache.streamPrompt(path),
      servedPod: (model, address) =>
        podsForModel(cluster.snapshot(), model)?.find((p) => p.address === address),
    },
    reporter.serviceHooks,
  );

  const health = createGrpcHealth();
  const grpcServer = createGrpcServer(config, extProc, health);
  const syncReadiness = (): void => health.setReady(isReady());
  const forgetDeparted = (): void => {
    const pods = cluster.snapshot().pods;
    for (const key of [...observations.keys()]) if (!pods.has(key)) observations.delete(key);
  };
  const unsubscribe = cluster.onChange(() => {
    syncReadiness();
    forgetDeparted();
    void metrics.removeDepartedPodSeries();
    // New or newly ready pods may have room for requests waiting on headroom.
    headroomQueue.wakeAll();
  });
  const subscriptionCloser = piece("cluster-subscription", unsubscribe);
  syncReadiness();
  void kvCache.whenTokenizersLoaded().then(syncReadiness);
  const scraperOptions: ScraperOptions = {
    cluster,
    store: engineMetrics,
    intervalMs: config.metricsIntervalMs,
    timeoutMs: config.metricsTimeoutMs,
    concurrency: config.metricsConcurrency,
    now,
    staleAfterMs: config.metricsStaleAfterMs,
    log,
    observer: {
      onScrape(podKey, seconds, result) {
        const pod = podName(podKey);
        metrics.scrapes.inc({ pod, result });
        metrics.scrapeSeconds.observe({ pod }, seconds);
        passiveHealth.onScrape(podKey, result);
      },
      onParseProblems(_podKey, problems) {
        for (const [kind, n] of parseProblemCounts(problems)) metrics.scrapeParseProblems.inc({ kind }, n);
      },
    },
  };
  const threadScraper =
    deps.scrapeMetrics !== false && config.metricsScrapeThread
      ? startScraperThread(scraperOptions)
      : undefined;
  if (threadScraper !== undefined) metrics.followScrapeThread(() => threadScraper.stats());
  const scraper = deps.scrapeMetrics === false ? undefined : (threadScraper ?? startScraper(scraperOptions));
  const scraperCloser = piece("scraper", () => scraper?.close());

  const listeners = await startGrpcListeners({
    config,
    log,
    metrics,
    grpcServer,
    health,
    piece,
    tlsRefreshIntervalMs: deps.tlsRefreshIntervalMs,
  });
  observeHttp2SessionErrors(grpcServer, (code) => {
    metrics.grpcConnectionErrors.inc({ code });
    // One line per failed connection (a client must reconnect to cause another).
    log.warn({ code }, "gRPC connection ended by an HTTP/2 error");
  });
  const admin: AdminServer = await startAdminServer(
    {
      registry: metrics.registry,
      cluster,
      load,
      isReady,
      isDraining: () => draining,
      routing: { strategies: strategies.types(), defaultStrategy: director.defaultStrategy },
      podDetails: createPodDebugState(engineMetrics, observations, now, [
        (key) => kvCache.podDetails(key),
        (key) => passiveHealth.podDetails(key),
      ]),
      ...(deps.discoveryStatus ? { extraState: () => ({ discovery: deps.discoveryStatus?.() }) } : {}),
    },
    config.httpBindAddress.host ?? "",
    config.httpBindAddress.port,
  );

  const drain = createDrain({
    log,
    grpcServer,
    extProc,
    readinessOff: () => {
      draining = true;
      syncReadiness();
    },
    refuseNewRequests: () => {
      refusing = true;
    },
    // The admin port goes last: /metrics and /readyz stay answerable for the whole drain.
    closers: [
      subscriptionCloser,
      scraperCloser,
      healthCloser,
      kvCacheCloser,
      usageCloser,
      // The health-only port answers (readiness NOT_SERVING) until the streams are done, like /readyz.
      ...listeners.closers,
      piece("admin", () => admin.close()),
    ],
  });

  return {
    grpcPort: listeners.grpcPort,
    grpcHealthPort: listeners.grpcHealthPort,
    httpPort: admin.port,
    load,
    metrics,
    engineMetrics,
    observations,
    passiveHealth,
    usage,
    headroomQueue,
    extProc,
    isReady,
    drain: (plan) => drain.run(typeof plan === "number" ? { delayMs: 0, timeoutMs: plan } : plan),
    hurryDrain: () => drain.hurry(),
  };
}
