/**
 * Process wiring and lifecycle only: read configuration, start the server and discovery (a static file or
 * Kubernetes), and on SIGTERM/SIGINT drain (`src/drain.ts`: readiness off, still serving for the drain delay, then
 * the listener closes and open streams finish) and exit 0; a second signal during the drain hurries it (skips the
 * rest of the delay and cuts open streams at once). Exit codes: 0 clean stop or `--help`, 2 bad configuration,
 * 1 failure to start. Every path, failed starts included, closes whatever was started.
 *
 * @module
 */
import { closeEach } from "./closing";
import { createClusterStore } from "./cluster";
import type { ClusterStore } from "./cluster";
import { loadKubernetesDiscovery } from "./cluster";
import { watchEndpointsFile } from "./cluster";
import { ConfigError, helpText, loadConfigFromProcess, startupSummary } from "./config";
import type { Config } from "./config";
import { createStdoutLogger } from "./observability";
import type { Logger, StdoutLogger } from "./observability";
import type { Metrics } from "./observability";
import { createServer } from "./server";
import { kvrouteVersion } from "./version";

/** The other commands of the `kvroute` binary (`cli.ts`), after the serving flags in `--help`. */
const COMMANDS_HELP = `
Other commands:
  kvroute --version, -v     print the version and exit
  kvroute route --help      send one request through a running kvroute as Envoy does and print the decision
`;

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

/** Start the configured discovery. Throws `ConfigError` for settings that cannot work (naming them). */
async function startDiscovery(
  config: Config,
  cluster: ClusterStore,
  log: Logger,
  metrics: Metrics,
): Promise<Discovery> {
  if (config.standalone) {
    const path = config.endpointsConfigPath;
    if (path === undefined)
      throw new ConfigError(["--endpoints-config (KVROUTE_ENDPOINTS_CONFIG): required"]);
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
  }
  if (config.inferencePool !== undefined && config.namespace === undefined) {
    throw new ConfigError([
      "--inference-pool (KVROUTE_INFERENCE_POOL): needs --namespace (KVROUTE_NAMESPACE)",
    ]);
  }
  const { loadKubeConfig, startKubernetesDiscovery } = await loadKubernetesDiscovery();
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(config.kubeconfigPath);
  } catch (e) {
    throw new ConfigError([`--kubeconfig (KUBECONFIG): ${(e as Error).message}`]);
  }
  const k8s = startKubernetesDiscovery({
    kubeConfig,
    namespace: config.namespace,
    inferencePool: config.inferencePool,
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

/** Start kvroute; resolves with the exit code once it has stopped. */
export async function main(): Promise<number> {
  let config: Config;
  try {
    const loaded = loadConfigFromProcess();
    if ("help" in loaded) {
      process.stdout.write(helpText() + COMMANDS_HELP);
      return 0;
    }
    config = loaded;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kvroute: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // Whatever way `serve` ends (a stop, a failed start, a throw), the buffered log lines are written before the
  // caller exits.
  const stdout = createStdoutLogger(config.logLevel);
  try {
    return await serve(config, stdout);
  } finally {
    await stdout.flush();
  }
}

/** Run kvroute with `config`, logging to `stdout`; resolves with the exit code once it has stopped. */
async function serve(config: Config, stdout: StdoutLogger): Promise<number> {
  const { log } = stdout;
  const cluster = createClusterStore();
  let discovery: Discovery | undefined;
  let server;
  try {
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
    discovery = await startDiscovery(config, cluster, log, server.metrics);
  } catch (e) {
    await stopNow();
    if (e instanceof ConfigError) {
      process.stderr.write(`kvroute: ${e.message}\n`);
      return 2;
    }
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
