/**
 * What the startup line says about the configuration: discovery mode, tokenizer, and each feature on or off, built
 * from `Config` here, in one place, so a new feature is added to the line beside its setting. Only names and
 * switches: never a secret (the API key, a Redis password or URL), never a value that may hold one.
 *
 * @module
 */
import type { Config } from "./config";
import { otlpTracesUrl } from "./settings-tracing";

/** How pods are discovered. */
export type DiscoveryMode = "file" | "kubernetes" | "inference-pool";

/** The configuration as the startup line reports it. */
export interface StartupSummary {
  readonly discovery: DiscoveryMode;
  /** The endpoints file (file mode), the watched namespace (Kubernetes, `all` when unset), or the pool's name. */
  readonly discoverySource: string;
  readonly routingAlgorithm: string;
  readonly tokenizer: string;
  /** Whether a per-model tokenizers file is set. */
  readonly tokenizersConfig: boolean;
  /** KV events: from every endpoint (`all`, file mode with `--kv-events-static`), per labelled pod, or off. */
  readonly kvEvents: "all" | "labelled-pods" | "off";
  readonly features: Readonly<Record<string, boolean>>;
  readonly logLevel: string;
}

/** The summary of `config` for the startup line. */
export function startupSummary(config: Config): StartupSummary {
  const discovery: DiscoveryMode = config.standalone
    ? "file"
    : config.inferencePool !== undefined
      ? "inference-pool"
      : "kubernetes";
  const discoverySource =
    discovery === "file"
      ? (config.endpointsConfigPath ?? "")
      : discovery === "inference-pool"
        ? `${config.namespace ?? "all"}/${config.inferencePool ?? ""}`
        : (config.namespace ?? "all");
  const redis = config.redisHost !== undefined || config.redisUrl !== undefined;
  return {
    discovery,
    discoverySource,
    routingAlgorithm: config.routingAlgorithm,
    tokenizer: config.tokenizer,
    tokenizersConfig: config.tokenizersConfigPath !== undefined,
    // In Kubernetes mode a pod opts in by its label; in file mode only the static switch subscribes.
    kvEvents: config.standalone ? (config.kvEventsStatic ? "all" : "off") : "labelled-pods",
    features: {
      redisUsage: redis,
      gpuOptimizerTracing: config.gpuOptimizerTracing && redis,
      passiveHealth: config.outlierDetection,
      sloQueue: config.sloQueueMax > 0,
      // Configured budgets for tenants without a user record (user records' TPM apply whenever Redis is on).
      tenantBudgets: config.tenantTpm > 0 || config.tenantTpmOverrides.some(([, tpm]) => tpm > 0),
      flowControl: config.flowControl,
      prefixSpeculative: config.prefixSpeculativeTtlMs > 0,
      prefixStreamedPrompt: config.prefixStreamedPrompt,
      grpcTls: config.grpcTlsCertPath !== undefined || config.grpcTlsSelfSigned,
      apiKey: config.authBearerToken !== undefined,
      strategyHeader: config.allowStrategyHeader,
      metricsScrapeThread: config.metricsScrapeThread,
      emitEndpointScores: config.emitEndpointScores,
      conformanceTestMode: config.conformanceTestMode,
      logRequests: config.logRequests,
      // Whether an OTLP endpoint is set (the URL itself may carry credentials: not on the line).
      tracing: otlpTracesUrl(config) !== undefined,
    },
    logLevel: config.logLevel,
  };
}
