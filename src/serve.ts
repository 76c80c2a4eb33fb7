/**
 * Run kvroute on a configuration `main.ts` has read: check the discovery source (a kubeconfig that cannot be
 * loaded is refused before anything starts), start the server and discovery (a static file or Kubernetes), and on
 * SIGTERM/SIGINT drain (`src/drain.ts`: readiness off, still serving for the drain delay, then the listener closes
 * and open streams finish) and resolve 0; a second signal during the drain hurries it (skips the rest of the delay
 * and cuts open streams at once). A failure to start resolves 1. Every path, failed starts included, closes
 * whatever was started.
 *
 * @module
 */
import { closeEach } from "./closing";
import { createClusterStore, loadKubernetesDiscovery, watchEndpointsFile } from "./cluster";
import type { ClusterStore } from "./cluster";
import { ConfigError, startupSummary } from "./config";
import type { Config } from "./config";
import { createStdoutLogger } from "./observability";
import type { Logger, Metrics, StdoutLogger } from "./observability";
import type { KvrouteServer } from "./server";
import { kvrouteVersion } from "./version";

/** A running discovery source, whichever kind. */
interface Discovery {
  /** Resolves when the first fleet is loaded. */
  readonly ready: Promise<void>;
  /** Whether a failure of `ready` should stop the process (a bad static file) rather than be retried. */
  readonly fatalIfNotReady: boolean;
  close(): Promise<void> | void;
  status(): Record<string, unknown>;
  /** True while a read of the endpoints file is stuck in the kernel (a hung filesystem). */
  readStuck?(): boolean;
}

/** A closed, low-cardinality class for a discovery failure's free-text reason (a metric label). */
function errorClass(reason: string): string {
  const status = /\b(4\d\d|5\d\d)\b/.exec(reason);
  if (/ECONNREFUSED/.test(reason)) return "connection-refused";
  if (/ECONNRESET|socket hang up|aborted|terminated/i.test(reason)) return "connection-reset";
  if (/timed? ?out|ETIMEDOUT/i.test(reason)) return "timeout";
  if (status?.[1]) return `http-${status[1]}`;
  return "other";
}

/** A discovery source the configuration selects, checked and ready to start once the server exists. */
type DiscoveryStart = (cluster: ClusterStore, log: Logger, metrics: Metrics) => Discovery;

/**
 * Check the configured discovery source without starting anything.
 *
 * @throws ConfigError for settings that cannot work (naming them): a kubeconfig that cannot be loaded.
 */
async function prepareDiscovery(config: Config): Promise<DiscoveryStart> {
  if (config.standalone) {
    const path = config.endpointsConfigPath;
    // `loadConfig` requires it with --standalone; this narrows the type.
    if (path === undefined)
      throw new ConfigError(["--endpoints-config (KVROUTE_ENDPOINTS_CONFIG): required"]);
    return (cluster, log, metrics) => {
      const watch = watchEndpointsFile(path, cluster, log, {
        onReload: (result) => metrics.discoveryReloads.inc({ result }),
      });
      return {
        ready: watch.ready,
        fatalIfNotReady: true,
        close: () => watch.close(),
        status: () => ({ source: "file", path }),
        readStuck: () => watch.readStuck(),
      };
    };
  }
  const { loadKubeConfig, startKubernetesDiscovery } = await loadKubernetesDiscovery();
  let kubeConfig: ReturnType<typeof loadKubeConfig>;
  try {
    kubeConfig = loadKubeConfig(config.kubeconfigPath);
  } catch (e) {
    throw new ConfigError([`--kubeconfig (KUBECONFIG): ${(e as Error).message}`]);
  }
  return (cluster, log, metrics) => {
    const k8s = startKubernetesDiscovery({
      kubeConfig,
      namespace: config.namespace,
      inferencePool: config.inferencePool,
      deploymentLabel: config.podDeploymentLabel,
      store: cluster,
      log,
      observer: {
        onEvent: (kind, type) => metrics.discoveryEvents.inc({ kind, type }),
        onError: (kind, reason) => metrics.discoveryErrors.inc({ kind, reason: errorClass(reason) }),
        onRelist: (kind) => metrics.discoveryRelists.inc({ kind }),
        onBadModelConfig: () => metrics.discoveryErrors.inc({ kind: "pod", reason: "bad-model-config" }),
        onBadDataParallelSize: () =>
          metrics.discoveryErrors.inc({ kind: "pod", reason: "bad-data-parallel-size" }),
      },
    });
    return {
      ready: k8s.ready,
      fatalIfNotReady: false,
      close: () => k8s.close(),
      status: () => ({ source: "kubernetes", ...k8s.status() }),
    };
  };
}

/**
 * Called once everything is drained. Node's exit joins libuv's worker threads; when one is blocked in the kernel
 * on the endpoints file (a hung network filesystem) a normal exit would wait for it for ever, so SIGKILL instead.
 */
function killIfReadStuck(discovery: Discovery, stdout: StdoutLogger): void {
  if (!discovery.readStuck?.()) return;
  stdout.log.error({}, "a read of the endpoints file is stuck in the kernel; exiting with SIGKILL");
  // SIGKILL runs no exit handler: write the buffered log lines (this one included) first.
  stdout.flushSync();
  process.kill(process.pid, "SIGKILL");
}

/**
 * Run kvroute with `config` until it is stopped; resolves with the exit code (0 after a drain, 1 when it could not
 * start). Rejects with `ConfigError` when the discovery source is refused, before anything started.
 * `unreadAibrixEnv`: the `AIBRIX_*` variables set that kvroute does not read (`unreadAibrixEnv`), warned about.
 */
export async function serve(config: Config, unreadAibrixEnv: readonly string[] = []): Promise<number> {
  const startDiscovery = await prepareDiscovery(config);
  // Whatever way `run` ends (a stop, a failed start, a throw), the buffered log lines are written before the
  // caller exits.
  const stdout = createStdoutLogger(config.logLevel);
  // Settings an AIBrix user expects to work but that do nothing here: names only (values may be secrets).
  if (unreadAibrixEnv.length > 0) {
    stdout.log.warn(
      { ignoredEnv: unreadAibrixEnv },
      "AIBrix environment variables set but not read by kvroute; see docs/migrating-from-aibrix.md",
    );
  }
  try {
    return await run(config, startDiscovery, stdout);
  } finally {
    await stdout.flush();
  }
}

/** Run kvroute with `config`, logging to `stdout`; resolves with the exit code once it has stopped. */
async function run(config: Config, startDiscovery: DiscoveryStart, stdout: StdoutLogger): Promise<number> {
  const { log } = stdout;
  const cluster = createClusterStore();
  let discovery: Discovery | undefined;
  let server: KvrouteServer;
  try {
    // Loaded only now, once the configuration and the discovery source were accepted: the server's modules are
    // most of a start's CPU. A module that fails to load is a failed start like any other.
    const { createServer } = await import("./server.js");
    server = await createServer({
      config,
      cluster,
      log,
      discoveryStatus: () => discovery?.status() ?? {},
      logDroppedLines: stdout.droppedLines,
    });
  } catch (e) {
    log.error({ error: (e as Error).message }, "kvroute failed to start");
    return 1;
  }
  const kvroute = server;
  // Discovery closes after the server: the server still routes during its drain delay, on a fleet kept current.
  const stopAll = async (plan: { delayMs: number; timeoutMs: number }): Promise<void> => {
    await kvroute.drain(plan);
    const d = discovery;
    if (d)
      await closeEach([{ name: "discovery", close: () => d.close() }], (piece, error) =>
        log.error({ piece, error: (error as Error).message }, "stop: close failed"),
      );
  };
  const stopNow = (): Promise<void> => stopAll({ delayMs: 0, timeoutMs: 0 });
  try {
    discovery = startDiscovery(cluster, log, server.metrics);
  } catch (e) {
    await stopNow();
    throw e;
  }
  if (discovery.fatalIfNotReady) {
    try {
      await discovery.ready;
    } catch (e) {
      log.error({ error: (e as Error).message }, "endpoints file could not be loaded");
      await stopNow();
      killIfReadStuck(discovery, stdout);
      return 1;
    }
  } else {
    // Readiness stays NOT_SERVING until the first sync; discovery retries with backoff meanwhile.
    discovery.ready.then(
      () => log.info({ pods: cluster.snapshot().pods.size }, "kubernetes discovery synced"),
      () => undefined,
    );
  }
  // Listen for the stop signals before saying "ready": whoever reads that line may signal at once, and a SIGTERM
  // that arrives before a listener exists kills the process without a drain.
  // The first signal starts the drain; any later one hurries it. Listeners stay until the end, so a repeated
  // signal never falls through to Node's default (an immediate exit without closing anything).
  let signalled = false;
  let onFirstSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (onFirstSignal = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!signalled) {
      signalled = true;
      onFirstSignal(signal);
      return;
    }
    log.warn({ signal }, "drain: signal during drain; hurrying (delay skipped, open streams cut)");
    kvroute.hurryDrain();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // The one line that says what this process is and what it runs with (version, discovery, features on/off).
  log.info(
    {
      version: kvrouteVersion(),
      grpcPort: server.grpcPort,
      ...(server.grpcHealthPort === undefined ? {} : { grpcHealthPort: server.grpcHealthPort }),
      httpPort: server.httpPort,
      pods: cluster.snapshot().pods.size,
      ...startupSummary(config),
    },
    "kvroute ready",
  );
  const signal = await stopSignal;
  log.info({ signal, drainDelayMs: config.drainDelayMs, drainTimeoutMs: config.drainTimeoutMs }, "draining");
  await stopAll({ delayMs: config.drainDelayMs, timeoutMs: config.drainTimeoutMs });
  killIfReadStuck(discovery, stdout);
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  log.info({}, "stopped");
  return 0;
}
