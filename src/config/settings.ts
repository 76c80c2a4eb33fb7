/**
 * The one table of settings behind `Config` (`config.ts`). Each row names the field, its flag (and aliases),
 * its environment variable (AIBrix's name where AIBrix has one), its value type with default, and a one-line
 * description. Parsing, validation and `--help` are all generated from this table, so they cannot drift apart,
 * and the mapped type on `SETTINGS` makes the compiler reject a `Config` field without a row.
 *
 * @module
 */
import { availableParallelism, hostname } from "node:os";
import type { Config } from "./config";
import { LOG_LEVELS, REQUEST_BODY_MODES, RESPONSE_BODY_MODES } from "./config";
import { FLOW_SETTINGS } from "./settings-flow";
import { KUBERNETES_SETTINGS } from "./settings-kubernetes";
import { KV_EVENTS_SETTINGS } from "./settings-kv-events";
import { OUTLIER_SETTINGS } from "./settings-outlier";
import { PD_SETTINGS } from "./settings-pd";
import { PREFIX_SETTINGS } from "./settings-prefix";
import { PREFIX_AFFINITY_SETTINGS } from "./settings-prefix-affinity";
import { TENANT_SETTINGS } from "./settings-tenant";
import { TRACING_SETTINGS } from "./settings-tracing";
import { VTC_SETTINGS } from "./settings-vtc";
import type { ValueType } from "./values";
import { bindAddress, boolean, integer, oneOf, optionalPort, optionalText, text } from "./values";

/** Tokenizer workers when unset: one fewer than the CPUs this process may run on, at least 1 and at most 4. */
function defaultTokenizeWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

/** One row of the settings table. */
export interface Setting<T> {
  /** Long flag name without dashes; absent for env-only settings (secrets stay off command lines). */
  readonly flag?: string;
  /** Other accepted flag names (deprecated AIBrix spellings). */
  readonly aliases?: readonly string[];
  /** Environment variable; absent for flag-only settings. */
  readonly env?: string;
  /** Parsing, default and help placeholder. */
  readonly type: ValueType<T>;
  /** One line for `--help`. */
  readonly description: string;
}

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const messageSize = { min: KIB, max: 512 * MIB, default: 4 * MIB, rangeHint: "1 KiB..512 MiB" } as const;
/** setTimeout overflows above 2^31-1 ms and fires at once, so a larger drain timeout would mean "no drain". */
const MAX_TIMER_MS = 2_147_483_647;

/** Every setting, keyed by its `Config` field. The order here is the order in `--help`. */
export const SETTINGS: { readonly [K in keyof Config]: Setting<Config[K]> } = {
  grpcBindAddress: {
    flag: "grpc-bind-address",
    aliases: ["grpc-port"],
    env: "KVROUTE_GRPC_BIND_ADDRESS",
    type: bindAddress(":50052"),
    description:
      "gRPC listen address for ext_proc and health; :port or a bare port means all interfaces (alias --grpc-port, the reference picker's name).",
  },
  grpcHealthPort: {
    flag: "grpc-health-port",
    env: "KVROUTE_GRPC_HEALTH_PORT",
    type: optionalPort(),
    description:
      "Also serve grpc.health.v1 alone, plaintext, on this port (host of --grpc-bind-address); unset: health only on the gRPC port.",
  },
  grpcTlsCertPath: {
    flag: "grpc-tls-cert",
    env: "KVROUTE_GRPC_TLS_CERT",
    type: optionalText({ hint: "<file>" }),
    description:
      "PEM certificate (chain) for TLS on the gRPC port, with --grpc-tls-key; re-read when the files change. Unset: plaintext.",
  },
  grpcTlsKeyPath: {
    flag: "grpc-tls-key",
    env: "KVROUTE_GRPC_TLS_KEY",
    type: optionalText({ hint: "<file>" }),
    description: "PEM private key of --grpc-tls-cert.",
  },
  grpcTlsSelfSigned: {
    flag: "grpc-tls-self-signed",
    env: "KVROUTE_GRPC_TLS_SELF_SIGNED",
    type: boolean(false),
    description:
      "TLS on the gRPC port with a certificate generated at start (in memory); not with --grpc-tls-cert/--grpc-tls-key.",
  },
  httpBindAddress: {
    flag: "http-bind-address",
    aliases: ["metrics-bind-address"],
    env: "KVROUTE_HTTP_BIND_ADDRESS",
    type: bindAddress(":8080"),
    description: "HTTP listen address for /metrics, /v1/models and health (alias --metrics-bind-address).",
  },
  statusPage: {
    flag: "status-page",
    env: "KVROUTE_STATUS_PAGE",
    type: boolean(true),
    description: "Serve the live status page (/, /ui, /ui/status.json) on the HTTP port; false: 404.",
  },
  statusPageToken: {
    env: "KVROUTE_STATUS_PAGE_TOKEN",
    type: optionalText({ secret: true, hint: "<token>" }),
    description:
      "Bearer token the status page and its JSON need ('Authorization: Bearer <token>'); open when unset.",
  },
  standalone: {
    flag: "standalone",
    env: "KVROUTE_STANDALONE",
    type: boolean(false),
    description: "Read pods from --endpoints-config instead of Kubernetes.",
  },
  endpointsConfigPath: {
    flag: "endpoints-config",
    env: "KVROUTE_ENDPOINTS_CONFIG",
    type: optionalText({ hint: "<file>" }),
    description:
      "Static endpoints YAML (models: [{name, endpoints: [host:port]}]); required with --standalone.",
  },
  ...KUBERNETES_SETTINGS,
  routingAlgorithm: {
    flag: "routing-algorithm",
    env: "ROUTING_ALGORITHM",
    type: text(() => "least-request", "least-request", { hint: "<strategy>" }),
    description: "Routing strategy used when a request names none.",
  },
  allowStrategyHeader: {
    flag: "allow-strategy-header",
    env: "KVROUTE_ALLOW_STRATEGY_HEADER",
    type: boolean(true),
    description: "Honour the routing-strategy request header (AIBrix); false: ignore it, use the default.",
  },
  grpcMaxMessageSizeBytes: {
    flag: "grpc-max-message-size-bytes",
    env: "AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES",
    type: integer(messageSize),
    description: "Largest gRPC message sent to Envoy, and the least accepted from it, bytes.",
  },
  grpcStreamResetBurst: {
    flag: "grpc-stream-reset-burst",
    env: "KVROUTE_GRPC_STREAM_RESET_BURST",
    type: integer({ min: 1, max: 1_000_000_000, default: 100_000 }),
    description:
      "RST_STREAM frames one gRPC connection may send at once before kvroute answers GOAWAY (Envoy resets every ext_proc stream).",
  },
  grpcStreamResetRate: {
    flag: "grpc-stream-reset-rate",
    env: "KVROUTE_GRPC_STREAM_RESET_RATE",
    type: integer({ min: 1, max: 1_000_000_000, default: 20_000 }),
    description:
      "RST_STREAM frames per second one gRPC connection may sustain after the burst (then GOAWAY).",
  },
  maxBodyBytes: {
    flag: "max-body-bytes",
    env: "KVROUTE_MAX_BODY_BYTES",
    type: integer(messageSize),
    description: "Largest request body buffered for parsing, bytes (streamed bodies are summed over chunks).",
  },
  grpcMaxReceiveBytes: {
    flag: "grpc-max-receive-bytes",
    env: "KVROUTE_GRPC_MAX_RECEIVE_BYTES",
    type: integer({ min: 0, max: GIB, default: 0, rangeHint: "0 = auto, else up to 1 GiB" }),
    description:
      "Transport cap on one message from Envoy, bytes; 0 = 2 x max(--max-body-bytes, --grpc-max-message-size-bytes) + 64 KiB. Bodies up to it get kvroute's 413.",
  },
  maxBufferedBytes: {
    flag: "max-buffered-bytes",
    env: "KVROUTE_MAX_BUFFERED_BYTES",
    type: integer({ min: KIB, max: 64 * GIB, default: 256 * MIB, rangeHint: "1 KiB..64 GiB" }),
    description:
      "Request-body bytes buffered across all streams; a chunk beyond it gets 503 (x-error-body-buffer-full).",
  },
  maxMessages: {
    flag: "max-messages",
    env: "KVROUTE_MAX_MESSAGES",
    type: integer({ min: 1, max: 1_000_000, default: 4096 }),
    description:
      "Most messages (and content parts, prompt-array items) in one request body; beyond: 400. Also sizes the body's " +
      "other shape bounds: max(4096, 16 × it) arrays and objects, max(4096, 8 × it) object keys, 8 bytes of keys each.",
  },
  maxJsonDepth: {
    flag: "max-json-depth",
    env: "KVROUTE_MAX_JSON_DEPTH",
    type: integer({ min: 2, max: 10_000, default: 128 }),
    description: "Deepest nesting of arrays/objects in a request body; beyond: 400.",
  },
  requestBodyMode: {
    flag: "request-body-mode",
    env: "KVROUTE_REQUEST_BODY_MODE",
    type: oneOf(REQUEST_BODY_MODES, "BUFFERED"),
    description: "Request body mode assumed when Envoy sends no protocol_config.",
  },
  responseBodyMode: {
    flag: "response-body-mode",
    env: "KVROUTE_RESPONSE_BODY_MODE",
    type: oneOf(RESPONSE_BODY_MODES, "STREAMED"),
    description: "Response body mode assumed when Envoy sends no protocol_config.",
  },
  sendBodyWithoutWaitingForHeaderResponse: {
    flag: "send-body-without-waiting-for-header-response",
    env: "KVROUTE_SEND_BODY_WITHOUT_WAITING_FOR_HEADER_RESPONSE",
    type: boolean(false),
    description: "Envoy sends body chunks before kvroute answers the headers message.",
  },
  drainDelayMs: {
    flag: "drain-delay-ms",
    env: "KVROUTE_DRAIN_DELAY_MS",
    type: integer({ min: 0, max: MAX_TIMER_MS, default: 5_000 }),
    description:
      "On SIGTERM/SIGINT, readiness goes NOT_SERVING at once but new streams are still served this long, ms, so load balancers move away first (0 = stop taking new streams at once).",
  },
  drainTimeoutMs: {
    flag: "drain-timeout-ms",
    env: "KVROUTE_DRAIN_TIMEOUT_MS",
    type: integer({ min: 0, max: MAX_TIMER_MS, default: 30_000 }),
    description:
      "After the drain delay (listener closed), how long open streams may finish before being cut, ms (0 = at once).",
  },
  logLevel: {
    flag: "log-level",
    env: "LOG_LEVEL",
    type: oneOf(LOG_LEVELS, "info"),
    description: "Minimum log level.",
  },
  logRequests: {
    flag: "log-requests",
    env: "KVROUTE_LOG_REQUESTS",
    type: boolean(false),
    description:
      "One line per request at info (request finished / rejected); off: those lines are written at debug only.",
  },
  authBearerToken: {
    env: "AIBRIX_AUTH_BEARER_TOKEN",
    type: optionalText({ secret: true, hint: "<token>" }),
    description: "API key clients must send as 'Authorization: Bearer <token>'; no check when unset.",
  },
  gatewayPodName: {
    env: "POD_NAME",
    type: text(() => hostname() || "unknown-gateway", "the host name"),
    description: "This replica's name for cross-replica state (set it from the pod's metadata.name).",
  },
  metricsPodLabelLimit: {
    flag: "max-pod-label-series",
    env: "KVROUTE_MAX_POD_LABEL_SERIES",
    type: integer({ min: 0, max: 1_000_000, default: 1000 }),
    description: "Most pods given their own label value on per-pod metrics (0 = no per-pod series).",
  },
  inferencePool: {
    flag: "inference-pool",
    aliases: ["pool-name"],
    env: "KVROUTE_INFERENCE_POOL",
    type: optionalText({ hint: "<name>" }),
    description:
      "Kubernetes mode: pods come from this InferencePool (inference.networking.k8s.io/v1) (alias --pool-name).",
  },
  metricsIntervalMs: {
    flag: "metrics-interval-ms",
    env: "AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS",
    type: integer({ min: 10, max: 3_600_000, default: 50 }),
    description: "How often each routable pod's /metrics is scraped, ms.",
  },
  metricsTimeoutMs: {
    flag: "metrics-timeout-ms",
    env: "KVROUTE_METRICS_TIMEOUT_MS",
    type: integer({ min: 10, max: 600_000, default: 1000 }),
    description: "A /metrics scrape not answered within this time is abandoned (that pod only), ms.",
  },
  metricsStaleAfterMs: {
    flag: "metrics-stale-after-ms",
    env: "KVROUTE_METRICS_STALE_AFTER_MS",
    type: integer({ min: 10, max: 3_600_000, default: 2000 }),
    description: "Metrics older than this count as missing; strategies never see stale numbers, ms.",
  },
  metricsConcurrency: {
    flag: "metrics-concurrency",
    env: "KVROUTE_METRICS_CONCURRENCY",
    type: integer({ min: 1, max: 10_000, default: 32 }),
    description: "Most /metrics scrapes in flight at once across all pods.",
  },
  metricsScrapeThread: {
    flag: "metrics-scrape-thread",
    env: "KVROUTE_METRICS_SCRAPE_THREAD",
    type: boolean(true),
    description: "Scrape and parse engine /metrics on a worker thread, off the ext_proc event loop.",
  },
  tokenizer: {
    flag: "tokenizer",
    env: "AIBRIX_PREFIX_CACHE_TOKENIZER_TYPE",
    type: text(() => "character", "character", { hint: "<type>" }),
    description:
      "Default tokenizer: character, tiktoken (cl100k_base), remote (vLLM /tokenize), hf:<tokenizer.json>.",
  },
  tokenizersConfigPath: {
    flag: "tokenizers-config",
    env: "KVROUTE_TOKENIZERS_CONFIG",
    type: optionalText({ hint: "<file>" }),
    description: "Per-model tokenizers YAML (models: {<name>: {type, path?, endpoint?}}).",
  },
  tokenizeWorkerThresholdChars: {
    flag: "tokenize-worker-threshold-chars",
    env: "KVROUTE_TOKENIZE_WORKER_THRESHOLD_CHARS",
    type: integer({ min: 0, max: 1 << 30, default: 4096 }),
    description: "Prompts longer than this are tokenized in a worker thread, off the gRPC event loop.",
  },
  tokenizeWorkers: {
    flag: "tokenize-workers",
    env: "KVROUTE_TOKENIZE_WORKERS",
    type: integer({
      min: 1,
      max: 64,
      default: { compute: defaultTokenizeWorkers, text: "CPUs available − 1, from 1 to 4" },
    }),
    description:
      "Tokenizer worker threads. The default leaves one CPU to the gRPC event loop: on a 2-CPU machine two workers " +
      "and the loop contend, and the loop's delay p99 doubled (measured).",
  },
  ...PREFIX_SETTINGS,
  ...PREFIX_AFFINITY_SETTINGS,
  ...VTC_SETTINGS,
  ...KV_EVENTS_SETTINGS,
  ...PD_SETTINGS,
  redisHost: {
    env: "REDIS_HOST",
    flag: "redis-host",
    type: optionalText({ hint: "<host>" }),
    description: "Redis host (traces, limits, replica sync); Redis features are off when unset.",
  },
  redisPort: {
    env: "REDIS_PORT",
    flag: "redis-port",
    type: integer({ min: 1, max: 65_535, default: 6379 }),
    description: "Redis port.",
  },
  redisPassword: {
    env: "REDIS_PASSWORD",
    type: optionalText({ secret: true, hint: "<password>" }),
    description: "Redis password.",
  },
  redisUrl: {
    env: "REDIS_URL",
    type: optionalText({ secret: true, hint: "<redis://...>" }),
    description: "Redis URL; wins over REDIS_HOST/REDIS_PORT/REDIS_PASSWORD.",
  },
  gpuOptimizerTracing: {
    env: "AIBRIX_GPU_OPTIMIZER_TRACING_FLAG",
    flag: "gpu-optimizer-tracing",
    type: boolean(false),
    description: "Write per-model request traces to Redis for AIBrix's GPU optimizer (needs Redis).",
  },
  sloQueueMax: {
    flag: "slo-queue-max",
    env: "KVROUTE_SLO_QUEUE_MAX",
    type: integer({ min: 0, max: 1_000_000, default: 128 }),
    description: "SLO strategies: most requests per model waiting for a pod with headroom (beyond: 429).",
  },
  sloQueueMaxWaitMs: {
    flag: "slo-queue-max-wait-ms",
    env: "KVROUTE_SLO_QUEUE_MAX_WAIT_MS",
    type: integer({ min: 0, max: MAX_TIMER_MS, default: 30_000 }),
    description: "SLO strategies: longest wait for a pod with headroom, ms (then 503).",
  },
  ...TENANT_SETTINGS,
  ...FLOW_SETTINGS,
  emitEndpointScores: {
    flag: "emit-endpoint-scores",
    env: "KVROUTE_EMIT_ENDPOINT_SCORES",
    type: boolean(false),
    description: "Debug: add the decision's top 5 combined endpoint scores to the envoy.lb metadata.",
  },
  conformanceTestMode: {
    flag: "conformance-test-mode",
    env: "KVROUTE_CONFORMANCE_TEST_MODE",
    type: boolean(false),
    description:
      "Conformance suite only: honour the test-epp-endpoint-selection header, echo the served endpoint; never in production.",
  },
  ...OUTLIER_SETTINGS,
  ...TRACING_SETTINGS,
};

/** Config field names in table order. */
export const SETTING_KEYS = Object.keys(SETTINGS) as (keyof Config)[];

/** `--flag (ENV)`, the way errors and help name a setting; `flag` overrides the spelling actually used. */
export function settingLabel(key: keyof Config, flag?: string): string {
  const s: Setting<unknown> = SETTINGS[key];
  const f = flag ?? s.flag;
  if (f !== undefined && s.env !== undefined) return `--${f} (${s.env})`;
  return f !== undefined ? `--${f}` : (s.env ?? key);
}
