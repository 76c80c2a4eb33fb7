/**
 * Builds kvroute's object graph once — registry, director, ext_proc service, health, admin HTTP, metrics — from a
 * `Config` and a `ClusterStore` fed by whatever discovery the caller runs. No module-level state: two servers in
 * one process (as tests run them) share nothing.
 *
 * @module
 */
import type { ClusterStore } from "./cluster";
import type { LoadTracker } from "./cluster";
import type { EngineMetricsStore } from "./cluster";
import type { Observations } from "./cluster";
import type { Config } from "./config";
import { startAdminServer } from "./admin";
import { createGrpcHealth } from "./admin";
import { createStatusRecorder } from "./admin";
import type { StatusRecorder } from "./admin";
import type { CloseFailure } from "./closing";
import { createDrain } from "./drain";
import type { DrainPlan } from "./drain";
import type { ExtProcService } from "./extproc";
import { observeHttp2SessionErrors } from "./grpc-stream-reset-limit";
import { startGrpcListeners } from "./grpc-listeners";
import { createGrpcServer } from "./grpc-server";
import type { HealthRuntime } from "./health-runtime";
import { DisposerStack } from "./lifecycle";
import type { RegisterPiece } from "./lifecycle";
import type { Logger } from "./observability";
import type { Metrics, TraceBatchOptions } from "./observability";
import type { WorkerPool } from "./tokenize";
import { createPodDebugState } from "./pod-debug-state";
import type { FlowController, HeadroomQueue } from "./routing";
import { createServerExtProc } from "./server-extproc";
import { startRuntimes } from "./server-runtimes";
import type { Runtimes } from "./server-runtimes";
import { startServerScraper, subscribeToCluster } from "./server-watchers";
import { startTracing } from "./tracing-runtime";
import type { UsageRuntime } from "./usage-runtime";

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
  /** Clock of the speculative prefix entries' TTL, ms. Default `performance.now`; tests step it past the TTL. */
  readonly speculativeNow?: () => number;
  /** Wall clock of the rate windows, Unix epoch ms. Default `Date.now`; tests pin it inside one window. */
  readonly usageWallNow?: () => number;
  /**
   * Redis command timeout, ms. Default the usage area's 500 ms; tests of Redis's happy path raise it so a starved
   * machine does not turn a slow answer into a (correctly) failed-open check.
   */
  readonly usageRedisTimeoutMs?: number;
  /** Log lines the process logger dropped at its buffer bound, for `kvroute_log_lines_dropped_total`. */
  readonly logDroppedLines?: () => number;
  /** Trace export bounds and delays (tests shorten the batch delay); defaults otherwise. */
  readonly traceBatch?: TraceBatchOptions;
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
  /** Flow control in front of every strategy; undefined when `--flow-control=false`. */
  readonly flowControl: FlowController | undefined;
  readonly observations: Observations;
  /** Passive health (outlier detection) and its per-pod facts. */
  readonly passiveHealth: HealthRuntime;
  readonly extProc: ExtProcService;
  /** The tokenizer worker pool (absent with no workers); for tests and debugging. */
  readonly tokenizerPool: WorkerPool | undefined;
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
 * The server's disposer stack, as stages declared in the reverse of the order they close. A drain (after its stream
 * steps) and a failed start both dispose the whole stack: the main gRPC server first (forced; a drain has already
 * shut it down gracefully), then the back end newest first, then the certificate watcher and the health-only port
 * (which answer NOT_SERVING until the streams are done, like /readyz), and the admin port last, so /metrics and
 * /readyz stay answerable until the end.
 */
interface Stages {
  readonly root: DisposerStack;
  readonly admin: DisposerStack;
  readonly listeners: DisposerStack;
  readonly runtimes: DisposerStack;
  readonly grpc: DisposerStack;
}

function declareStages(): Stages {
  const root = new DisposerStack();
  const admin = root.stage();
  const listeners = root.stage();
  const runtimes = root.stage();
  const grpc = root.stage();
  return { root, admin, listeners, runtimes, grpc };
}

/**
 * Build and start kvroute on the configured ports. Rejects (naming the setting) when the strategy is invalid, or
 * when a port cannot be bound; every disposer registered so far runs first (each even when another fails), so a
 * failed start leaves nothing running.
 */
export async function createServer(deps: ServerDeps): Promise<KvrouteServer> {
  const stages = declareStages();
  try {
    return await start(deps, stages);
  } catch (e) {
    await stages.root.dispose((piece, error) =>
      deps.log.error({ piece, error: errorText(error) }, "failed start: close failed"),
    );
    throw e;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Registers into `stage`; the disposer announces itself to `deps.onClosing` first (a throw there fails it). */
function pieceIn(deps: ServerDeps, stage: DisposerStack): RegisterPiece {
  return (name, close) =>
    stage.defer(name, () => {
      deps.onClosing?.(name);
      return close();
    });
}

async function start(deps: ServerDeps, stages: Stages): Promise<KvrouteServer> {
  const { config, cluster, log } = deps;
  if (config.conformanceTestMode) {
    log.warn(
      "conformance test mode is on: a client's test-epp-endpoint-selection header narrows the choice of pod; " +
        "never enable it in production",
    );
  }
  const runtimes = await startRuntimes(deps, pieceIn(deps, stages.runtimes));
  const { metrics, kvCache } = runtimes;
  // Readiness goes off when a drain starts; new requests are refused only once its delay is over.
  let draining = false;
  let refusing = false;
  // Ready also waits for the tokenizer workers' start-up loads (bounded), so no first long prompt waits for one.
  const isReady = (): boolean => cluster.snapshot().loaded && !draining && kvCache.tokenizersLoaded();
  const tracer = await startTracing(
    config,
    log,
    metrics.registry,
    pieceIn(deps, stages.runtimes),
    deps.traceBatch,
  );
  const statusRecorder = config.statusPage ? createStatusRecorder(runtimes.now) : undefined;
  const extProc = createServerExtProc({
    config,
    cluster,
    log,
    runtimes,
    isRefusing: () => refusing,
    tracer,
    ...(statusRecorder ? { statusRecorder } : {}),
  });
  const health = createGrpcHealth();
  const grpcServer = createGrpcServer(config, extProc, health);
  const syncReadiness = (): void => health.setReady(isReady());
  startServerScraper({ ...deps, runtimes }, pieceIn(deps, stages.runtimes));
  // Last of the back end, so the first to close: no cluster change reaches a piece being closed.
  subscribeToCluster({ cluster, runtimes }, syncReadiness, pieceIn(deps, stages.runtimes));
  syncReadiness();
  void kvCache.whenTokenizersLoaded().then(syncReadiness);

  const listeners = await startGrpcListeners({
    config,
    log,
    metrics,
    grpcServer,
    health,
    piece: pieceIn(deps, stages.listeners),
    // Not announced: the drain shuts the main server down itself, and this only matters for a failed start.
    serverPiece: (close) => stages.grpc.defer("grpc", close),
    tlsRefreshIntervalMs: deps.tlsRefreshIntervalMs,
  });
  observeHttp2SessionErrors(grpcServer, (code) => {
    metrics.grpcConnectionErrors.inc({ code });
    // One line per failed connection (a client must reconnect to cause another).
    log.warn({ code }, "gRPC connection ended by an HTTP/2 error");
  });
  const httpPort = await startAdmin(
    deps,
    runtimes,
    { isReady, isDraining: () => draining, statusRecorder },
    pieceIn(deps, stages.admin),
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
      // Requests already read but not routed are refused too; routed ones finish.
      extProc.refuseUnrouted();
    },
    dispose: (onFailure: CloseFailure) => stages.root.dispose(onFailure),
  });

  return {
    grpcPort: listeners.grpcPort,
    grpcHealthPort: listeners.grpcHealthPort,
    httpPort,
    load: runtimes.load,
    metrics,
    engineMetrics: runtimes.engineMetrics,
    observations: runtimes.observations,
    passiveHealth: runtimes.passiveHealth,
    usage: runtimes.usage,
    headroomQueue: runtimes.headroomQueue,
    flowControl: runtimes.flowControl,
    extProc,
    tokenizerPool: kvCache.tokenizerPool,
    isReady,
    drain: (plan) => drain.run(typeof plan === "number" ? { delayMs: 0, timeoutMs: plan } : plan),
    hurryDrain: () => drain.hurry(),
  };
}

/**
 * Bind the admin HTTP port (metrics, probes, debug state, the status page when its recorder is given); resolves
 * with its port. Registered as `admin`.
 */
async function startAdmin(
  deps: ServerDeps,
  runtimes: Runtimes,
  serving: {
    readonly isReady: () => boolean;
    readonly isDraining: () => boolean;
    readonly statusRecorder: StatusRecorder | undefined;
  },
  piece: RegisterPiece,
): Promise<number> {
  const { isReady, isDraining, statusRecorder } = serving;
  const { config, cluster } = deps;
  const { strategies, director } = runtimes.routing;
  const { kvCache, passiveHealth } = runtimes;
  const admin = await startAdminServer(
    {
      registry: runtimes.metrics.registry,
      cluster,
      load: runtimes.load,
      isReady,
      isDraining,
      routing: { strategies: strategies.types(), defaultStrategy: director.defaultStrategy },
      podDetails: createPodDebugState(runtimes.engineMetrics, runtimes.observations, runtimes.now, [
        (key) => kvCache.podDetails(key),
        (key) => passiveHealth.podDetails(key),
      ]),
      ...(deps.discoveryStatus ? { extraState: () => ({ discovery: deps.discoveryStatus?.() }) } : {}),
      ...(statusRecorder ? { statusPage: { recorder: statusRecorder, token: config.statusPageToken } } : {}),
    },
    config.httpBindAddress.host ?? "",
    config.httpBindAddress.port,
  );
  piece("admin", () => admin.close());
  return admin.port;
}
