/**
 * kvroute's own Prometheus metrics. One registry per process, created in `createMetrics()` and passed to whoever
 * records; no module-level state. Every label that can take outside values goes through a `LabelLimiter`.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FleetPod, FleetView, LoadView } from "./fleet-view";
import { podLabelName } from "./fleet-view";
import { createKnownLabel, createLabelLimiter } from "./label-limiter";
import type { LabelLimiter } from "./label-limiter";
import { createPodLabel, DEPARTED_POD_LABEL, OTHER_POD_LABEL } from "./pod-label";
import type { PodLabel } from "./pod-label";
import { removePodSeries } from "./pod-series";
import { createClusterSourceMetrics } from "./cluster-source-metrics";
import type { ClusterSourceMetrics } from "./cluster-source-metrics";
import { createKvEventMetrics } from "./kv-event-metrics";
import type { KvEventMetrics } from "./kv-event-metrics";
import { createRedisFeatureMetrics } from "./redis-feature-metrics";
import type { RedisFeatureMetrics } from "./redis-feature-metrics";
import { createFlowMetrics } from "./flow-metrics";
import type { FlowMetrics } from "./flow-metrics";
import { createGatewayHintMetrics } from "./gateway-hint-metrics";
import type { GatewayHintMetrics } from "./gateway-hint-metrics";
import { createPdMetrics } from "./pd-metrics";
import type { PdMetrics } from "./pd-metrics";
import { createRequestMetrics } from "./request-metrics";
import type { RequestMetrics } from "./request-metrics";
import { registerProcessMetrics } from "./process-metrics";
import { registerBuildInfo } from "./build-info";
import type { BuildInfo } from "./build-info";

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** Pods whose engine metrics are stale or missing, read at scrape time. */
  readonly stalePods?: () => number;
  /** Collect Node process metrics (CPU, heap, event-loop lag) as `process_*`/`nodejs_*`. Off in tests for speed. */
  readonly processMetrics?: boolean;
  /** The labels of `kvroute_build_info` (version `unknown` when absent). */
  readonly build?: BuildInfo;
  /** Bound on distinct pod label values (per-pod series). */
  readonly maxPodSeries?: number;
  /** Bound on distinct model and strategy label values. */
  readonly maxModelSeries?: number;
  /** Log lines dropped at the logger's buffer bound so far, read at scrape time. */
  readonly logDroppedLines?: () => number;
}

/** The metric handles kvroute records into, plus the registry that renders them. */
export interface Metrics
  extends
    KvEventMetrics,
    RedisFeatureMetrics,
    ClusterSourceMetrics,
    RequestMetrics,
    GatewayHintMetrics,
    FlowMetrics,
    PdMetrics {
  readonly registry: Registry;
  /**
   * Finished requests by model, strategy and final HTTP status; a request without one is counted under its
   * outcome instead (`cancelled`, `reset`, `shutdown`, `error`, `upstream-error`), never `0`.
   */
  readonly requests: Counter<"model" | "strategy" | "status">;
  /** Time from the last request-body byte to a routing decision (parse + pick), seconds. */
  readonly decisionSeconds: Histogram<"strategy">;
  /** Errors answered to clients (and protocol errors) by reason. */
  readonly errors: Counter<"reason">;
  /**
   * gRPC (HTTP/2) connections the HTTP/2 layer ended on an error, by Node error code (`ERR_HTTP2_ERROR` covers a
   * client over the RST_STREAM limit, answered with GOAWAY; codes outside `HTTP2_SESSION_ERROR_CODES` are `other`).
   */
  readonly grpcConnectionErrors: Counter<"code">;
  /** Changed TLS certificate files on the gRPC port: applied, or rejected (the previous pair kept). */
  readonly grpcTlsReloads: Counter<"result">;
  /** How requests ended (routed, or gone before the decision): success, upstream-error, cancelled, reset, shutdown, error. */
  readonly completions: Counter<"outcome">;
  /** Routing decisions that fell back, by strategy and reason. */
  readonly fallbacks: Counter<"strategy" | "reason">;
  /** NaN/Inf/out-of-range scores returned by a strategy (a bug in that strategy). */
  readonly badScores: Counter<"strategy">;
  /** A strategy's `onRouted` or finisher threw (a bug): the request was routed anyway, its reservation kept whole. */
  readonly strategyHookErrors: Counter<"strategy" | "hook">;
  /** Request-body bytes buffered across all streams, against `--max-buffered-bytes`. */
  readonly bufferedBodyBytes: Gauge;
  /**
   * Count one ext_proc message received, by kind (a request case or `empty`: a closed set). Counted in a plain map
   * and handed to prom-client at scrape time, as `kvroute_extproc_messages_total{kind}`: a labelled `inc` per
   * message (label hashing and validation) was a visible share of a conversation's CPU.
   */
  countMessage(kind: string): void;
  /** ext_proc streams currently open. */
  readonly activeStreams: Gauge;
  /** Endpoint file reloads by result. */
  readonly discoveryReloads: Counter<"result">;
  /** Response bodies whose usage could not be read (malformed SSE line, non-JSON body, over the buffer bound). */
  readonly usageUnreadable: Counter<"reason">;
  /**
   * Requests held to a per-request bound, by bound: `messages`, `json-depth`, `json-containers`, `json-keys` (refused, 400),
   * `authorization-length` (refused, 401), `strategy-header` (the header was ignored).
   */
  readonly requestBounds: Counter<"bound">;
  /** Failed requests whose prompt the approximate prefix index took back (it had recorded it at routing). */
  readonly prefixForgotten: Counter;
  /** Prompts routed without tokens because the tokenizer failed, by reason. */
  readonly tokenizerUnavailable: Counter<"reason">;
  /** Tokenizer worker jobs cancelled by their stream's signal, by stage (`queued` dropped, `running` discarded). */
  readonly tokenizeCancelled: Counter<"stage">;
  /** Streamed bodies whose prompt was hashed as it arrived, by `StreamedOutcome` (used, or why not). */
  readonly promptStreamed: Counter<"outcome">;
  /**
   * SLO headroom-queue events by model: `enqueued`, `rejected` (queue full, 429), `timeout` (503), `cancelled`
   * (the stream closed while waiting), `dequeued` (answered after waiting).
   */
  readonly sloQueueEvents: Counter<"model" | "event">;
  /** Where the `kvroute_slo_queue_length{model}` gauge reads from (set once the headroom queue exists). */
  setSloQueueSource(source: () => Iterable<readonly [model: string, waiting: number]>): void;
  /** Where the indexed-blocks gauge reads from (set once the prefix indexes exist). */
  setIndexedBlocksSource(
    source: () => Iterable<readonly [pod: string, index: "approximate" | "events", blocks: number]>,
  ): void;
  /** Admit a pod name as a label value (pods of the cluster only, else `departed`; beyond the bound: `other`). */
  readonly podLabel: PodLabel;
  /** Admit a model name as a label value (models some pod names, else `unknown`; beyond the bound: `other`). */
  readonly modelLabel: LabelLimiter;
  /** Admit a strategy label (already reduced to a bounded set by the caller) as a label value. */
  readonly strategyLabel: LabelLimiter;
  /** Remove the series of pods that left the cluster, from every metric with a `pod` label. */
  removeDepartedPodSeries(): Promise<number>;
}

const DECISION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

/**
 * Create the registry and every metric. `load` and `cluster` are read at scrape time for the per-pod in-flight
 * gauge and pods-per-model gauge, so the hot path does no gauge bookkeeping.
 */
export function createMetrics(load: LoadView, cluster: FleetView, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) registerProcessMetrics(registry);
  registerBuildInfo(registry, options.build ?? { version: "unknown" });
  const podLabel = createPodLabel(cluster, options.maxPodSeries ?? 1000);
  const modelLabel = createKnownLabel(createLabelLimiter(options.maxModelSeries ?? 200), (model) =>
    cluster.snapshot().models.has(model),
  );
  const strategyLabel = createLabelLimiter(options.maxModelSeries ?? 200);
  const registers = [registry];
  // Per-pod and per-model gauges are rebuilt at scrape time with `inc` after `reset`: values past a label bound
  // collapse into `other`, and those must add up rather than overwrite each other.

  const nameOf = (pod: FleetPod | undefined, key: string): string =>
    pod === undefined ? key : podLabelName(pod);
  const perPodLoad = (
    name: string,
    help: string,
    value: (l: { readonly requests: number; readonly tokens: number }) => number,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ["pod"],
      registers,
      collect() {
        this.reset();
        const pods = cluster.snapshot().pods;
        for (const [key, l] of load.entries())
          this.inc({ pod: podLabel.admit(nameOf(pods.get(key), key)) }, value(l));
      },
    });
  };
  perPodLoad(
    "kvroute_inflight_requests",
    "Requests routed to a pod by this replica and not yet finished.",
    (l) => l.requests,
  );
  perPodLoad(
    "kvroute_inflight_tokens",
    "Prompt tokens (estimated) of requests in flight, per pod.",
    (l) => l.tokens,
  );
  new Gauge({
    name: "kvroute_pods",
    help: "Known pods per model and readiness.",
    labelNames: ["model", "ready"],
    registers,
    collect() {
      this.reset();
      for (const [model, pods] of cluster.snapshot().models) {
        const ready = pods.filter((p) => p.ready).length;
        this.inc({ model: modelLabel.admit(model), ready: "true" }, ready);
        this.inc({ model: modelLabel.admit(model), ready: "false" }, pods.length - ready);
      }
    },
  });

  new Gauge({
    name: "kvroute_engine_metrics_stale_pods",
    help: "Routable pods whose engine metrics are missing or older than the staleness bound (strategies see none).",
    registers,
    collect() {
      this.set(options.stalePods?.() ?? 0);
    },
  });

  const messageCounts = new Map<string, number>();
  new Counter({
    name: "kvroute_extproc_messages_total",
    help: "ext_proc messages received, by kind.",
    labelNames: ["kind"],
    registers,
    collect() {
      this.reset();
      for (const [kind, n] of messageCounts) this.inc({ kind }, n);
    },
  });

  const logDroppedLines = options.logDroppedLines ?? ((): number => 0);
  new Counter({
    name: "kvroute_log_lines_dropped_total",
    help: "Log lines dropped because stdout was not read fast enough (the log buffer was at its bound).",
    registers,
    collect() {
      this.reset();
      this.inc(logDroppedLines());
    },
  });

  let indexedBlocks: () => Iterable<readonly [string, "approximate" | "events", number]> = () => [];
  new Gauge({
    name: "kvroute_prefix_indexed_blocks",
    help: "Prompt blocks indexed per pod, by index (approximate: what kvroute routed; events: what vLLM reported).",
    labelNames: ["pod", "index"],
    registers,
    collect() {
      this.reset();
      for (const [pod, index, blocks] of indexedBlocks())
        this.inc({ pod: podLabel.admit(pod), index }, blocks);
    },
  });

  let sloQueue: () => Iterable<readonly [string, number]> = () => [];
  new Gauge({
    name: "kvroute_slo_queue_length",
    help: "Requests per model waiting for a pod with headroom (SLO strategies).",
    labelNames: ["model"],
    registers,
    collect() {
      this.reset();
      for (const [model, waiting] of sloQueue()) this.inc({ model: modelLabel.admit(model) }, waiting);
    },
  });

  return {
    registry,
    podLabel,
    removeDepartedPodSeries: () =>
      removePodSeries(
        registry,
        (pod) => pod === OTHER_POD_LABEL || pod === DEPARTED_POD_LABEL || podLabel.isCurrent(pod),
      ),
    ...createKvEventMetrics(registry),
    ...createRequestMetrics(registry),
    tokenizerUnavailable: new Counter({
      name: "kvroute_tokenizer_unavailable_total",
      help: "Prompts routed without prefix information because tokenization failed, by reason.",
      labelNames: ["reason"],
      registers,
    }),
    tokenizeCancelled: new Counter({
      name: "kvroute_tokenize_cancelled_total",
      help:
        "Tokenizer worker jobs whose stream ended (or was drained) before they finished, by stage: queued (dropped " +
        "before a worker started it), running (the worker finished it; the answer was discarded).",
      labelNames: ["stage"],
      registers,
    }),
    promptStreamed: new Counter({
      name: "kvroute_prompt_streamed_total",
      help:
        "Streamed request bodies whose prompt was hashed as its chunks arrived, by outcome: used, abandoned " +
        "(a body shape or tokenizer it does not follow), mismatch, block-sizes (the plan needed another size).",
      labelNames: ["outcome"],
      registers,
    }),
    ...createRedisFeatureMetrics(registry),
    setIndexedBlocksSource(source) {
      indexedBlocks = source;
    },
    sloQueueEvents: new Counter({
      name: "kvroute_slo_queue_events_total",
      help: "SLO headroom-queue events by model (enqueued, rejected: full/429, timeout: 503, cancelled, dequeued).",
      labelNames: ["model", "event"],
      registers,
    }),
    setSloQueueSource(source) {
      sloQueue = source;
    },
    ...createClusterSourceMetrics(registry),
    modelLabel,
    strategyLabel,
    requests: new Counter({
      name: "kvroute_requests_total",
      help: "Finished requests by model, routing strategy and final HTTP status (or the outcome when none was seen: cancelled, reset, shutdown, error, upstream-error).",
      labelNames: ["model", "strategy", "status"],
      registers,
    }),
    decisionSeconds: new Histogram({
      name: "kvroute_decision_duration_seconds",
      help: "Time to parse the body and pick a pod, seconds.",
      labelNames: ["strategy"],
      buckets: DECISION_BUCKETS,
      registers,
    }),
    errors: new Counter({
      name: "kvroute_errors_total",
      help: "Errors answered to clients and ext_proc protocol errors, by reason.",
      labelNames: ["reason"],
      registers,
    }),
    grpcConnectionErrors: new Counter({
      name: "kvroute_grpc_connection_errors_total",
      help:
        "gRPC connections ended by an HTTP/2 error, by Node error code (ERR_HTTP2_ERROR includes a client over " +
        "the RST_STREAM limit --grpc-stream-reset-burst/--grpc-stream-reset-rate, answered with GOAWAY).",
      labelNames: ["code"],
      registers,
    }),
    grpcTlsReloads: new Counter({
      name: "kvroute_grpc_tls_reloads_total",
      help:
        "Changed --grpc-tls-cert/--grpc-tls-key files: applied, or rejected (unreadable, torn or mismatched pair; " +
        "the previous certificate stays in use).",
      labelNames: ["result"],
      registers,
    }),
    completions: new Counter({
      name: "kvroute_request_completions_total",
      help: "Requests routed, or gone before their decision, by how they ended (each counted exactly once).",
      labelNames: ["outcome"],
      registers,
    }),
    fallbacks: new Counter({
      name: "kvroute_routing_fallback_total",
      help: "Routing decisions where the strategy had no signal and a uniform random pod was chosen.",
      labelNames: ["strategy", "reason"],
      registers,
    }),
    badScores: new Counter({
      name: "kvroute_strategy_bad_scores_total",
      help: "NaN, infinite or out-of-range scores returned by a strategy (a bug; treated as 0 or clamped).",
      labelNames: ["strategy"],
      registers,
    }),
    strategyHookErrors: new Counter({
      name: "kvroute_strategy_hook_errors_total",
      help: "Strategy onRouted hooks or finishers that threw (a bug); the request was routed and released anyway.",
      labelNames: ["strategy", "hook"],
      registers,
    }),
    bufferedBodyBytes: new Gauge({
      name: "kvroute_buffered_body_bytes",
      help: "Request-body bytes buffered across all ext_proc streams (bounded by --max-buffered-bytes).",
      registers,
    }),
    countMessage: (kind) => messageCounts.set(kind, (messageCounts.get(kind) ?? 0) + 1),
    activeStreams: new Gauge({
      name: "kvroute_extproc_active_streams",
      help: "ext_proc streams currently open.",
      registers,
    }),
    discoveryReloads: new Counter({
      name: "kvroute_discovery_reloads_total",
      help: "Endpoint-file loads by result: ok, error (bad document), incomplete (no final newline), not-regular-file, too-large, not-text, unreadable, timeout (each keeps the last good state).",
      labelNames: ["result"],
      registers,
    }),
    usageUnreadable: new Counter({
      name: "kvroute_response_usage_unreadable_total",
      help: "Responses whose token usage could not be read, by reason.",
      labelNames: ["reason"],
      registers,
    }),
    requestBounds: new Counter({
      name: "kvroute_request_bounds_total",
      help: "Requests held to a per-request bound (messages, json-depth, json-containers, json-keys, authorization-length, strategy-header).",
      labelNames: ["bound"],
      registers,
    }),
    ...createGatewayHintMetrics(registry),
    ...createFlowMetrics(registry, modelLabel),
    ...createPdMetrics(registry),
    prefixForgotten: new Counter({
      name: "kvroute_prefix_forgotten_total",
      help: "Failed requests (HTTP >= 400 or no upstream answer) whose prompt the approximate index took back.",
      registers,
    }),
  };
}
