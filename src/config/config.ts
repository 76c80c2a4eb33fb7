/**
 * The `Config` type: everything kvroute is configured with. Each field has exactly one row in the settings table
 * (`settings.ts`), which parses, validates and documents it.
 *
 * @module
 */
import type { BindAddress } from "./values";

/** Body processing modes kvroute can ask Envoy for on the request side. */
export const REQUEST_BODY_MODES = ["BUFFERED", "STREAMED", "FULL_DUPLEX_STREAMED"] as const;
/** Request-side body mode (Envoy `ProcessingMode.BodySendMode`). */
export type RequestBodyMode = (typeof REQUEST_BODY_MODES)[number];

/** Body processing modes on the response side (`NONE`: kvroute never sees response bodies). */
export const RESPONSE_BODY_MODES = ["NONE", "STREAMED", "BUFFERED", "FULL_DUPLEX_STREAMED"] as const;
/** Response-side body mode (Envoy `ProcessingMode.BodySendMode`). */
export type ResponseBodyMode = (typeof RESPONSE_BODY_MODES)[number];

/** pino log levels. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** A pino log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything kvroute is configured with: parsed once at start, frozen, passed down explicitly. */
export interface Config {
  /** gRPC (ext_proc + grpc.health.v1) listen address. Default `:50052`. */
  readonly grpcBindAddress: BindAddress;
  /** A second, plaintext gRPC port serving only grpc.health.v1 (host of `grpcBindAddress`); unset: none. */
  readonly grpcHealthPort: number | undefined;
  /** PEM certificate file for TLS on the gRPC port; set together with `grpcTlsKeyPath`. Unset: plaintext. */
  readonly grpcTlsCertPath: string | undefined;
  /** PEM private key file of `grpcTlsCertPath`. */
  readonly grpcTlsKeyPath: string | undefined;
  /** TLS on the gRPC port with a self-signed certificate made at start; excludes the cert/key files. */
  readonly grpcTlsSelfSigned: boolean;
  /** HTTP listen address (`/metrics`, `/v1/models`, health). Default `:8080`. */
  readonly httpBindAddress: BindAddress;
  /** Serve the live status page (`/`, `/ui`, `/ui/status.json`) on the HTTP port. */
  readonly statusPage: boolean;
  /** Bearer token the status page and its JSON need; `undefined`: open, like `/debug/state`. Never logged. */
  readonly statusPageToken: string | undefined;
  /** Standalone mode: pods come from `endpointsConfigPath`, not Kubernetes. */
  readonly standalone: boolean;
  /** Path of the static endpoints YAML; always set when `standalone` is true. */
  readonly endpointsConfigPath: string | undefined;
  /** Path of a kubeconfig; `undefined` means in-cluster config (Kubernetes mode). */
  readonly kubeconfigPath: string | undefined;
  /** Namespace to watch; `undefined` means all namespaces (Kubernetes mode). */
  readonly namespace: string | undefined;
  /**
   * Pod label naming a pod's deployment, the key of its GPU profiles (AIBrix `AIBRIX_POD_DEPLOYMENT_LABEL`, default
   * `app.kubernetes.io/name`); a pod without it falls back to its owner (Kubernetes mode).
   */
  readonly podDeploymentLabel: string;
  /** Default routing strategy expression; validated by the router registry, not here. */
  readonly routingAlgorithm: string;
  /** Whether the `routing-strategy` request header may choose the strategy (false: ignored, counted). */
  readonly allowStrategyHeader: boolean;
  /** Largest gRPC message kvroute sends to Envoy, and the least it accepts from it, bytes (1 KiB..512 MiB). */
  readonly grpcMaxMessageSizeBytes: number;
  /**
   * RST_STREAM frames one gRPC connection may send in a burst before the HTTP/2 layer answers GOAWAY (Node's
   * default, 1000, is far below what Envoy sends: it resets every ext_proc stream it ends).
   */
  readonly grpcStreamResetBurst: number;
  /** RST_STREAM frames per second one gRPC connection may sustain after the burst (Node's default: 33). */
  readonly grpcStreamResetRate: number;
  /** Largest request body kvroute will buffer for parsing, bytes (1 KiB..512 MiB). */
  readonly maxBodyBytes: number;
  /**
   * Transport cap on one gRPC message from Envoy, bytes; 0 means derived from `maxBodyBytes` (see
   * `grpcReceiveLimit`). Kept apart from the body cap so an oversize body reaches the session and gets a 413.
   */
  readonly grpcMaxReceiveBytes: number;
  /** Request-body bytes all streams together may hold buffered; beyond it a stream gets 503. */
  readonly maxBufferedBytes: number;
  /** Most messages, content parts (in total) and prompt-array items in one request body. */
  readonly maxMessages: number;
  /** Deepest array/object nesting accepted in a request body. */
  readonly maxJsonDepth: number;
  /** Request body mode assumed when Envoy sends no `protocol_config`. */
  readonly requestBodyMode: RequestBodyMode;
  /** Response body mode assumed when Envoy sends no `protocol_config`. */
  readonly responseBodyMode: ResponseBodyMode;
  /** Whether Envoy is configured to send body chunks before kvroute answers the headers message. */
  readonly sendBodyWithoutWaitingForHeaderResponse: boolean;
  /** On SIGTERM, how long new streams are still served after readiness went NOT_SERVING, ms (0 = none). */
  readonly drainDelayMs: number;
  /** After the drain delay (listener closed), how long open streams may run before being cut, ms (0 = at once). */
  readonly drainTimeoutMs: number;
  /** Minimum log level. */
  readonly logLevel: LogLevel;
  /** Per-request log lines at info (off: at debug). */
  readonly logRequests: boolean;
  /** Gateway API key clients must present; `undefined` disables the check. Never logged. */
  readonly authBearerToken: string | undefined;
  /** This replica's name, for cross-replica state (`POD_NAME`, else the host name). */
  readonly gatewayPodName: string;
  /** Most pods that get their own label value on per-pod metrics (0 = no per-pod series). */
  readonly metricsPodLabelLimit: number;
  /** Kubernetes mode: take pods from this InferencePool instead of `model.aibrix.ai/name` labels. */
  readonly inferencePool: string | undefined;
  /** How often each routable pod's `/metrics` is scraped, ms. */
  readonly metricsIntervalMs: number;
  /** A scrape that has not answered within this many ms is abandoned, ms. */
  readonly metricsTimeoutMs: number;
  /** Metrics whose last good scrape is older than this count as missing, ms. */
  readonly metricsStaleAfterMs: number;
  /** Most scrapes in flight at once across all pods. */
  readonly metricsConcurrency: number;
  /** Scrape and parse on a worker thread (true) or on the event loop. */
  readonly metricsScrapeThread: boolean;
  /** Default tokenizer for models without their own entry: `character`, `tiktoken`, `remote`, or `hf:<path>`. */
  readonly tokenizer: string;
  /** YAML mapping model names to tokenizers (`models: {<model>: {type, path?, endpoint?}}`); optional. */
  readonly tokenizersConfigPath: string | undefined;
  /** Prompts longer than this many characters are tokenized in a worker thread. */
  readonly tokenizeWorkerThresholdChars: number;
  /** Worker threads for tokenization. */
  readonly tokenizeWorkers: number;
  /** Hash a chunked body's prompt as its chunks arrive (`--prefix-streamed-prompt`). */
  readonly prefixStreamedPrompt: boolean;
  /** Block-key scheme of the approximate index: kvroute's token-block chain, or AIBrix's byte blocks. */
  readonly prefixHash: "kvroute" | "aibrix";
  /** Block size: tokens (kvroute scheme) or bytes of the token byte array (AIBrix scheme). */
  readonly prefixBlockSize: number;
  /** Seed of the block-key hash; the same on every replica. */
  readonly prefixHashSeed: number;
  /** Most blocks the approximate index keeps across pods (LRU beyond). */
  readonly prefixCacheBlockNumber: number;
  /** Approximate index: a pod's bound while its engine's `num_gpu_blocks` is unknown or stale (never unbounded). */
  readonly prefixPodMaxBlocks: number;
  /** Prefix strategies look at most at this many leading blocks of a prompt (bounds per-request index work). */
  readonly prefixMaxPromptBlocks: number;
  /** prefix-cache: restrict to the least-loaded pods when max − min in-flight exceeds this. */
  readonly prefixImbalanceAbsCount: number;
  /** prefix-cache: skip prefix matches on pods above mean + k·σ in-flight requests. */
  readonly prefixStdDevFactor: number;
  /** prefix-affinity: a pod holding at least this fraction of the prompt's blocks is affine. */
  readonly prefixAffinityThreshold: number;
  /** prefix-affinity: extra TTFT accepted to keep a prompt on its cache, ms (the gate is throughput × this). */
  readonly prefixAffinityTtftPenaltyMs: number;
  /** prefix-affinity: prefill tokens/s per model name; models not listed use the GPU profile or the measured rate. */
  readonly prefixAffinityPrefillThroughput: readonly (readonly [string, number])[];
  /** vtc-basic: sliding-window length, in `vtcTimeUnit`s. */
  readonly vtcWindowSize: number;
  /** vtc-basic: unit of `vtcWindowSize`. */
  readonly vtcTimeUnit: "minutes" | "seconds" | "milliseconds";
  /** vtc-basic: smallest bucket size, and the minimum over users when none has tokens (weighted tokens). */
  readonly vtcMinTokens: number;
  /** vtc-basic: the maximum over users when none has tokens (weighted tokens). */
  readonly vtcMaxTokens: number;
  /** vtc-basic: requests running at which a pod's utilization term reaches 1. */
  readonly vtcMaxPodLoad: number;
  /** vtc-basic: weight of an input token in a user's count. */
  readonly vtcInputTokenWeight: number;
  /** vtc-basic: weight of an output token in a user's count. */
  readonly vtcOutputTokenWeight: number;
  /** vtc-basic: weight of the fairness term. */
  readonly vtcFairnessWeight: number;
  /** vtc-basic: weight of the utilization term. */
  readonly vtcUtilizationWeight: number;
  /** vtc-basic: most users tracked (least recently charged forgotten beyond). */
  readonly vtcMaxUsers: number;
  /** ZeroMQ port of vLLM's KV-event PUB socket (data-parallel rank r publishes on port + r). */
  readonly kvEventsPort: number;
  /** ZeroMQ port of vLLM's KV-event replay ROUTER socket. */
  readonly kvEventsReplayPort: number;
  /** Most wait for each reply of a KV-event replay (ms); a replay that times out is retried with backoff. */
  readonly kvEventsReplayTimeoutMs: number;
  /** KV-event replays in flight across pods (the others wait their turn). */
  readonly kvEventsMaxConcurrentReplays: number;
  /** Subscribe to KV events from every static endpoint (standalone mode). */
  readonly kvEventsStatic: boolean;
  /** Most blocks the event index keeps across pods (LRU beyond). */
  readonly kvEventsMaxBlocks: number;
  /**
   * How long a prompt routed to an event-publishing pod counts as cached there before its events confirm it (ms);
   * 0 disables speculation.
   */
  readonly prefixSpeculativeTtlMs: number;
  /** Redis host; Redis features are off when neither this nor `redisUrl` is set. */
  readonly redisHost: string | undefined;
  readonly redisPort: number;
  /** Never logged. */
  readonly redisPassword: string | undefined;
  /** `redis://` URL; wins over host/port/password. Never logged (it may carry a password). */
  readonly redisUrl: string | undefined;
  /** Write request traces for AIBrix's GPU optimizer. */
  readonly gpuOptimizerTracing: boolean;
  /** SLO strategies: most requests per model waiting for a pod with headroom (beyond: 429). */
  readonly sloQueueMax: number;
  /** SLO strategies: longest wait for a pod with headroom, ms (then 503). */
  readonly sloQueueMaxWaitMs: number;
  /** pd: strategy spec choosing the prefill pod among the complete rolesets' prefill pods. */
  readonly pdPrefillStrategy: string;
  /** pd: longest prefill request, seconds (AIBrix's `AIBRIX_PREFILL_REQUEST_TIMEOUT`); then a counted fallback. */
  readonly pdPrefillRequestTimeoutSeconds: number;
  /** pd: most prefill requests in flight; beyond, a counted fallback (the decode pod prefills). */
  readonly pdPrefillMaxConcurrency: number;
  /** pd: prompt tokens (estimated) below which the decode pod prefills itself; a model profile may override it. */
  readonly pdMinPrefillTokens: number;
  /** pd, vLLM: KV connector family (AIBrix's `AIBRIX_KV_CONNECTOR_TYPE`). */
  readonly pdKvConnectorType: "shfs" | "nixl";
  /** Header naming a request's tenant (tenant budgets, flow control), before `user`, the API key, anonymous. */
  readonly tenantHeader: string | undefined;
  /** Tokens per minute of a tenant without an override (or, with Redis, a user record); 0 = no budget. */
  readonly tenantTpm: number;
  /** Tokens per minute by tenant key (`header:<v>`, `user:<v>`, `key:<digest>`, `anonymous`); 0 = no budget. */
  readonly tenantTpmOverrides: readonly (readonly [string, number])[];
  /** Flow control on: requests wait in a bounded priority queue while their model's pods are saturated. */
  readonly flowControl: boolean;
  /** Flow control: most requests queued over all models. */
  readonly flowMaxQueued: number;
  /** Flow control: most requests queued in one priority band. */
  readonly flowMaxQueuedPerBand: number;
  /** Flow control: longest wait in the queue, ms (then 503). */
  readonly flowTtlMs: number;
  /** Flow control: how tenants share a band. */
  readonly flowFairness: "round-robin" | "least-attained";
  /** Flow control: order of one tenant's requests. */
  readonly flowOrder: "fcfs" | "edf";
  /** Flow control: window of least-attained service, ms. */
  readonly flowFairnessWindowMs: number;
  /** Flow control: most tenants remembered for fairness. */
  readonly flowMaxFlows: number;
  /** Flow control: `name=priority,...` for `x-gateway-inference-objective`; unset: every objective is 0. */
  readonly flowObjectivePriorities: string | undefined;
  /** Flow control: engine waiting requests above which a pod is saturated. */
  readonly flowQueueDepthThreshold: number;
  /** Flow control: KV-cache usage (0..1) above which a pod is saturated. */
  readonly flowKvCacheThreshold: number;
  /** Flow control: token capacity of every pod; 0 = from the engine, else the default. */
  readonly flowPodCapacityTokens: number;
  /** Flow control: running seats of every pod; 0 = learned from the engine's metrics. */
  readonly flowPodMaxRunning: number;
  /** Flow control: queued prefill delay per pod above which it is saturated, ms; 0 = no such limit. */
  readonly flowMaxPrefillDelayMs: number;
  /** Flow control: in-flight requests per pod a lower band leaves for the top band (configured seats only); 0 = none. */
  readonly flowReservedSeats: number;
  /** Flow control: share (0..1) of the prefill-delay budget a lower band leaves for the top band; 0 = none. */
  readonly flowReservedPrefill: number;
  /** Flow control: a model's top band is its highest priority seen within this window, ms. */
  readonly flowTopBandWindowMs: number;
  /** Flow control: re-check interval of a non-empty queue, ms. */
  readonly flowRecheckIntervalMs: number;
  /** Debug: add the decision's top combined endpoint scores to the `envoy.lb` metadata. */
  readonly emitEndpointScores: boolean;
  /**
   * Conformance test mode: a client's `test-epp-endpoint-selection` header narrows the choice, unknown paths are
   * routed as completions, and the served endpoint is echoed (`x-conformance-test-served-endpoint`). Off in
   * production: it lets a client pick the pod.
   */
  readonly conformanceTestMode: boolean;
  /** Passive health (outlier detection) on. */
  readonly outlierDetection: boolean;
  /** Failed requests (or unreachable scrapes) in a row that eject a pod; 0 = that trigger off. */
  readonly outlierConsecutiveFailures: number;
  /** Share of failed requests in the window that ejects a pod, 0..1; 0 = that trigger off. */
  readonly outlierFailureRatio: number;
  /** Requests the window must hold before the failure ratio is judged. */
  readonly outlierMinRequests: number;
  /** Sliding window of the failure ratio, ms. */
  readonly outlierWindowMs: number;
  /** First ejection's length, ms; the n-th in a row lasts n times this. */
  readonly outlierBaseEjectionMs: number;
  /** Longest ejection, ms (≥ `outlierBaseEjectionMs`). */
  readonly outlierMaxEjectionMs: number;
  /** Most of a model's ready pods ejected at once, percent. */
  readonly outlierMaxEjectedPercent: number;
  /** OTLP/HTTP traces URL (`…/v1/traces`); tracing is off unless this or `otlpBaseEndpoint` is set. */
  readonly otlpEndpoint: string | undefined;
  /** OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`): traces go to `<base>/v1/traces`; `otlpEndpoint` wins. */
  readonly otlpBaseEndpoint: string | undefined;
  /** Share of requests without a sampled parent that are traced, 0..1 (a parent's sampled flag is followed). */
  readonly traceSampleRatio: number;
  /** `service.name` of kvroute's spans. */
  readonly otelServiceName: string;
}
