import { availableParallelism, hostname } from "node:os";
import type { Config } from "../../src/config";
import { SETTINGS, loadConfig, unreadAibrixEnv } from "../../src/config";
import { load } from "./load-support";
import type { Env } from "./load-support";

describe("loadConfig defaults", () => {
  it("fills every field with its default", () => {
    expect(load([], {})).toEqual({
      grpcBindAddress: { host: undefined, port: 50052 },
      grpcHealthPort: undefined,
      grpcTlsCertPath: undefined,
      grpcTlsKeyPath: undefined,
      grpcTlsSelfSigned: false,
      httpBindAddress: { host: undefined, port: 8080 },
      statusPage: true,
      statusPageToken: undefined,
      standalone: false,
      endpointsConfigPath: undefined,
      kubeconfigPath: undefined,
      namespace: undefined,
      podDeploymentLabel: "app.kubernetes.io/name",
      routingAlgorithm: "least-request",
      allowStrategyHeader: true,
      grpcMaxMessageSizeBytes: 4194304,
      grpcStreamResetBurst: 100000,
      grpcStreamResetRate: 20000,
      maxBodyBytes: 4194304,
      grpcMaxReceiveBytes: 0,
      maxBufferedBytes: 268435456,
      maxMessages: 4096,
      maxJsonDepth: 128,
      requestBodyMode: "BUFFERED",
      responseBodyMode: "STREAMED",
      sendBodyWithoutWaitingForHeaderResponse: false,
      drainDelayMs: 5000,
      drainTimeoutMs: 30000,
      logLevel: "info",
      logRequests: false,
      authBearerToken: undefined,
      gatewayPodName: hostname(),
      metricsPodLabelLimit: 1000,
      inferencePool: undefined,
      metricsIntervalMs: 50,
      metricsTimeoutMs: 1000,
      metricsStaleAfterMs: 2000,
      metricsConcurrency: 32,
      metricsScrapeThread: true,
      tokenizer: "character",
      tokenizersConfigPath: undefined,
      tokenizeWorkerThresholdChars: 4096,
      tokenizeWorkers: Math.min(4, Math.max(1, availableParallelism() - 1)),
      prefixHash: "kvroute",
      prefixBlockSize: 16,
      prefixHashSeed: 0,
      prefixCacheBlockNumber: 200000,
      prefixPodMaxBlocks: 65536,
      prefixMaxPromptBlocks: 8192,
      prefixStreamedPrompt: true,
      prefixImbalanceAbsCount: 8,
      prefixStdDevFactor: 1,
      prefixAffinityThreshold: 0.5,
      prefixAffinityTtftPenaltyMs: 1000,
      prefixAffinityPrefillThroughput: [],
      vtcWindowSize: 5,
      vtcTimeUnit: "minutes",
      vtcMinTokens: 1000,
      vtcMaxTokens: 8000,
      vtcMaxPodLoad: 100,
      vtcInputTokenWeight: 1,
      vtcOutputTokenWeight: 2,
      vtcFairnessWeight: 1,
      vtcUtilizationWeight: 1,
      vtcMaxUsers: 10000,
      kvEventsPort: 5557,
      kvEventsReplayPort: 5558,
      kvEventsReplayTimeoutMs: 5000,
      kvEventsMaxConcurrentReplays: 4,
      kvEventsStatic: false,
      kvEventsMaxBlocks: 2000000,
      prefixSpeculativeTtlMs: 2000,
      redisHost: undefined,
      redisPort: 6379,
      redisPassword: undefined,
      redisUrl: undefined,
      gpuOptimizerTracing: false,
      sloQueueMax: 128,
      sloQueueMaxWaitMs: 30000,
      pdPrefillStrategy: "prefix-cache-and-load",
      pdPrefillRequestTimeoutSeconds: 30,
      pdPrefillMaxConcurrency: 256,
      pdMinPrefillTokens: 0,
      pdKvConnectorType: "shfs",
      tenantHeader: undefined,
      tenantTpm: 0,
      tenantTpmOverrides: [],
      flowControl: true,
      flowMaxQueued: 1024,
      flowMaxQueuedPerBand: 1024,
      flowTtlMs: 15000,
      flowFairness: "round-robin",
      flowOrder: "fcfs",
      flowFairnessWindowMs: 60000,
      flowMaxFlows: 10000,
      flowObjectivePriorities: undefined,
      flowQueueDepthThreshold: 5,
      flowKvCacheThreshold: 0.8,
      flowPodCapacityTokens: 0,
      flowPodMaxRunning: 0,
      flowMaxPrefillDelayMs: 100,
      flowReservedSeats: 0,
      flowReservedPrefill: 0,
      flowTopBandWindowMs: 60000,
      flowRecheckIntervalMs: 100,
      emitEndpointScores: false,
      conformanceTestMode: false,
      outlierDetection: true,
      outlierConsecutiveFailures: 5,
      outlierFailureRatio: 0.5,
      outlierMinRequests: 20,
      outlierWindowMs: 10000,
      outlierBaseEjectionMs: 5000,
      outlierMaxEjectionMs: 60000,
      outlierMaxEjectedPercent: 50,
      otlpEndpoint: undefined,
      otlpBaseEndpoint: undefined,
      traceSampleRatio: 0.1,
      otelServiceName: "kvroute",
    } satisfies Config);
  });

  it("treats an empty environment variable as unset, as Go's os.Getenv does", () => {
    expect(load([], { KVROUTE_DRAIN_TIMEOUT_MS: "", LOG_LEVEL: "", POD_NAME: "" })).toMatchObject({
      drainDelayMs: 5000,
      drainTimeoutMs: 30000,
      logLevel: "info",
      gatewayPodName: hostname(),
    });
  });

  it("returns a deeply frozen object", () => {
    const c = load([]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.grpcBindAddress)).toBe(true);
    expect(Object.isFrozen(c.httpBindAddress)).toBe(true);
    expect(() => {
      (c as { drainTimeoutMs: number }).drainTimeoutMs = 1;
    }).toThrow(TypeError);
  });
});

describe("loadConfig from the environment (AIBrix names where AIBrix has one)", () => {
  it.each<[string, string, keyof Config, unknown]>([
    ["KVROUTE_GRPC_BIND_ADDRESS", "127.0.0.1:9000", "grpcBindAddress", { host: "127.0.0.1", port: 9000 }],
    ["KVROUTE_HTTP_BIND_ADDRESS", "[::1]:0", "httpBindAddress", { host: "::1", port: 0 }],
    ["KVROUTE_STATUS_PAGE", "false", "statusPage", false],
    ["KVROUTE_STATUS_PAGE_TOKEN", "st4tus", "statusPageToken", "st4tus"],
    ["KVROUTE_STANDALONE", "true", "standalone", true],
    [
      "KVROUTE_ENDPOINTS_CONFIG",
      "/etc/kvroute/endpoints.yaml",
      "endpointsConfigPath",
      "/etc/kvroute/endpoints.yaml",
    ],
    ["KUBECONFIG", "/home/me/.kube/config", "kubeconfigPath", "/home/me/.kube/config"],
    ["KVROUTE_NAMESPACE", "inference", "namespace", "inference"],
    ["AIBRIX_POD_DEPLOYMENT_LABEL", "app", "podDeploymentLabel", "app"],
    ["KVROUTE_GRPC_HEALTH_PORT", "0", "grpcHealthPort", 0],
    ["KVROUTE_GRPC_TLS_SELF_SIGNED", "true", "grpcTlsSelfSigned", true],
    [
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
      "http://127.0.0.1:4318/v1/traces",
      "otlpEndpoint",
      "http://127.0.0.1:4318/v1/traces",
    ],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", "otlpBaseEndpoint", "http://127.0.0.1:4318"],
    ["KVROUTE_TRACE_SAMPLE_RATIO", "0.25", "traceSampleRatio", 0.25],
    ["OTEL_SERVICE_NAME", "router-a", "otelServiceName", "router-a"],
    ["ROUTING_ALGORITHM", "prefix-cache", "routingAlgorithm", "prefix-cache"],
    ["KVROUTE_ALLOW_STRATEGY_HEADER", "false", "allowStrategyHeader", false],
    ["AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES", "1024", "grpcMaxMessageSizeBytes", 1024],
    ["KVROUTE_GRPC_STREAM_RESET_BURST", "5000", "grpcStreamResetBurst", 5000],
    ["KVROUTE_GRPC_STREAM_RESET_RATE", "900", "grpcStreamResetRate", 900],
    ["KVROUTE_MAX_BODY_BYTES", "536870912", "maxBodyBytes", 536870912],
    ["KVROUTE_MAX_MESSAGES", "2048", "maxMessages", 2048],
    ["KVROUTE_MAX_JSON_DEPTH", "32", "maxJsonDepth", 32],
    ["KVROUTE_REQUEST_BODY_MODE", "STREAMED", "requestBodyMode", "STREAMED"],
    ["KVROUTE_RESPONSE_BODY_MODE", "NONE", "responseBodyMode", "NONE"],
    [
      "KVROUTE_SEND_BODY_WITHOUT_WAITING_FOR_HEADER_RESPONSE",
      "1",
      "sendBodyWithoutWaitingForHeaderResponse",
      true,
    ],
    ["KVROUTE_DRAIN_DELAY_MS", "1500", "drainDelayMs", 1500],
    ["KVROUTE_DRAIN_TIMEOUT_MS", "0", "drainTimeoutMs", 0],
    ["LOG_LEVEL", "debug", "logLevel", "debug"],
    ["KVROUTE_LOG_REQUESTS", "true", "logRequests", true],
    ["AIBRIX_AUTH_BEARER_TOKEN", "s3cret", "authBearerToken", "s3cret"],
    ["POD_NAME", "gateway-plugins-abc12", "gatewayPodName", "gateway-plugins-abc12"],
    ["KVROUTE_MAX_POD_LABEL_SERIES", "0", "metricsPodLabelLimit", 0],
    ["AIBRIX_ROUTER_VTC_TOKEN_TRACKER_WINDOW_SIZE", "10", "vtcWindowSize", 10],
    ["AIBRIX_ROUTER_VTC_TOKEN_TRACKER_TIME_UNIT", "seconds", "vtcTimeUnit", "seconds"],
    ["AIBRIX_ROUTER_VTC_TOKEN_TRACKER_MIN_TOKENS", "500.5", "vtcMinTokens", 500.5],
    ["AIBRIX_ROUTER_VTC_TOKEN_TRACKER_MAX_TOKENS", "16000", "vtcMaxTokens", 16000],
    ["AIBRIX_ROUTER_VTC_BASIC_MAX_POD_LOAD", "50", "vtcMaxPodLoad", 50],
    ["AIBRIX_ROUTER_VTC_BASIC_INPUT_TOKEN_WEIGHT", "0.5", "vtcInputTokenWeight", 0.5],
    ["AIBRIX_ROUTER_VTC_BASIC_OUTPUT_TOKEN_WEIGHT", "3", "vtcOutputTokenWeight", 3],
    ["AIBRIX_ROUTER_VTC_BASIC_FAIRNESS_WEIGHT", ".25", "vtcFairnessWeight", 0.25],
    ["AIBRIX_ROUTER_VTC_BASIC_UTILIZATION_WEIGHT", "0", "vtcUtilizationWeight", 0],
    ["KVROUTE_VTC_MAX_USERS", "100", "vtcMaxUsers", 100],
    ["KVROUTE_PREFIX_POD_MAX_BLOCKS", "4096", "prefixPodMaxBlocks", 4096],
    ["KVROUTE_PREFIX_MAX_PROMPT_BLOCKS", "512", "prefixMaxPromptBlocks", 512],
  ])("%s=%s sets %s", (env, value, field, expected) => {
    const extra: Env = field === "standalone" ? { KVROUTE_ENDPOINTS_CONFIG: "e.yaml" } : {};
    expect(load([], { ...extra, [env]: value })[field]).toEqual(expected);
  });
});

describe("unreadAibrixEnv (the startup warning's names)", () => {
  it("lists the AIBRIX_* variables set that no setting reads, sorted, by name only", () => {
    const env: Env = {
      AIBRIX_STATESYNC_ENABLED: "true",
      AIBRIX_PREFIX_CACHE_KV_EVENT_SYNC_ENABLED: "true",
      AIBRIX_SYNC_REDIS_PASSWORD: "s3cret",
      AIBRIX_PREFIX_CACHE_BLOCK_SIZE: "128",
      AIBRIX_AUTH_BEARER_TOKEN: "t0ken",
      AIBRIX_TOKENIZER_TYPE: "",
      KVROUTE_NOT_A_SETTING: "x",
      PATH: "/usr/bin",
    };
    const names = unreadAibrixEnv(env);
    expect(names).toEqual([
      "AIBRIX_PREFIX_CACHE_KV_EVENT_SYNC_ENABLED",
      "AIBRIX_STATESYNC_ENABLED",
      "AIBRIX_SYNC_REDIS_PASSWORD",
    ]);
    expect(JSON.stringify(names)).not.toContain("s3cret");
  });

  it("lists none of the AIBRIX_* names kvroute reads", () => {
    const read = Object.values(SETTINGS).flatMap((s) => (s.env?.startsWith("AIBRIX_") ? [s.env] : []));
    expect(read.length).toBeGreaterThan(10);
    expect(unreadAibrixEnv(Object.fromEntries(read.map((name) => [name, "1"])))).toEqual([]);
  });
});

describe("loadConfig from flags", () => {
  it.each<[readonly string[], keyof Config, unknown]>([
    [["--grpc-bind-address", ":0"], "grpcBindAddress", { host: undefined, port: 0 }],
    [["--grpc-bind-address=localhost:50051"], "grpcBindAddress", { host: "localhost", port: 50051 }],
    [["--http-bind-address=0.0.0.0:8081"], "httpBindAddress", { host: "0.0.0.0", port: 8081 }],
    [["--metrics-bind-address", ":9090"], "httpBindAddress", { host: undefined, port: 9090 }],
    [["--status-page=false"], "statusPage", false],
    // The reference picker's (Gateway API Inference Extension) flag names.
    [["--grpc-port", "9002"], "grpcBindAddress", { host: undefined, port: 9002 }],
    [["--grpc-bind-address=9003"], "grpcBindAddress", { host: undefined, port: 9003 }],
    [["--grpc-health-port", "9003"], "grpcHealthPort", 9003],
    [["--pool-name", "vllm-pool", "--namespace=serving"], "inferencePool", "vllm-pool"],
    [["--pool-namespace=serving"], "namespace", "serving"],
    [["--grpc-tls-cert=/t/tls.crt", "--grpc-tls-key=/t/tls.key"], "grpcTlsCertPath", "/t/tls.crt"],
    [["--grpc-tls-cert=/t/tls.crt", "--grpc-tls-key=/t/tls.key"], "grpcTlsKeyPath", "/t/tls.key"],
    [["--grpc-tls-self-signed"], "grpcTlsSelfSigned", true],
    [["--kubeconfig=/k"], "kubeconfigPath", "/k"],
    [["--namespace", "ns1"], "namespace", "ns1"],
    [
      ["--pod-deployment-label=team.example.com/deployment"],
      "podDeploymentLabel",
      "team.example.com/deployment",
    ],
    [
      ["--routing-algorithm=prefix-cache:2,least-request"],
      "routingAlgorithm",
      "prefix-cache:2,least-request",
    ],
    [["--grpc-max-message-size-bytes", "8388608"], "grpcMaxMessageSizeBytes", 8388608],
    [["--max-body-bytes=1024"], "maxBodyBytes", 1024],
    [["--grpc-max-receive-bytes", "16777216"], "grpcMaxReceiveBytes", 16777216],
    [["--max-buffered-bytes=1048576"], "maxBufferedBytes", 1048576],
    [["--allow-strategy-header=false"], "allowStrategyHeader", false],
    [["--max-messages", "10"], "maxMessages", 10],
    [["--request-body-mode=full_duplex_streamed"], "requestBodyMode", "FULL_DUPLEX_STREAMED"],
    [["--response-body-mode", "buffered"], "responseBodyMode", "BUFFERED"],
    [["--send-body-without-waiting-for-header-response"], "sendBodyWithoutWaitingForHeaderResponse", true],
    [["--drain-timeout-ms=0"], "drainTimeoutMs", 0],
    [["--drain-timeout-ms", "2147483647"], "drainTimeoutMs", 2147483647],
    [["--log-level=WARN"], "logLevel", "warn"],
    [["--max-pod-label-series", "5"], "metricsPodLabelLimit", 5],
    [["-log-level=trace"], "logLevel", "trace"], // Go's flag package accepts one dash
    [["--log-level=debug", "--log-level=error"], "logLevel", "error"], // the last repeat wins, as in Go
  ])("%j sets %s", (argv, field, expected) => {
    expect(load(argv)[field]).toEqual(expected);
  });

  it.each<[readonly string[], boolean]>([
    [["--standalone"], true],
    [["--standalone=true"], true],
    [["--standalone=false"], false],
    [["--standalone=0"], false],
    [["--standalone=TRUE"], true],
  ])("boolean %j → %s", (argv, expected) => {
    expect(load([...argv, "--endpoints-config=e.yaml"]).standalone).toBe(expected);
  });

  it.each<[readonly string[], Env, keyof Config, unknown]>([
    [["--drain-timeout-ms=5"], { KVROUTE_DRAIN_TIMEOUT_MS: "7" }, "drainTimeoutMs", 5],
    [["--log-level", "error"], { LOG_LEVEL: "debug" }, "logLevel", "error"],
    [["--routing-algorithm=random"], { ROUTING_ALGORITHM: "prefix-cache" }, "routingAlgorithm", "random"],
    [
      ["--metrics-bind-address=:1"],
      { KVROUTE_HTTP_BIND_ADDRESS: ":2" },
      "httpBindAddress",
      { host: undefined, port: 1 },
    ],
    [
      ["--grpc-max-message-size-bytes=2048"],
      { AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES: "4096" },
      "grpcMaxMessageSizeBytes",
      2048,
    ],
    [
      ["--send-body-without-waiting-for-header-response=false"],
      { KVROUTE_SEND_BODY_WITHOUT_WAITING_FOR_HEADER_RESPONSE: "true" },
      "sendBodyWithoutWaitingForHeaderResponse",
      false,
    ],
  ])("flag %j beats env %j", (argv, env, field, expected) => {
    expect(load(argv, env)[field]).toEqual(expected);
  });

  it("does not parse a bad env value that a flag overrides", () => {
    expect(load(["--drain-timeout-ms=1"], { KVROUTE_DRAIN_TIMEOUT_MS: "nope" }).drainTimeoutMs).toBe(1);
  });
});

describe("help", () => {
  it.each<[readonly string[]]>([
    [["--help"]],
    [["-h"]],
    [["-help"]],
    [["--log-level=debug", "-h"]],
    [["--bogus", "--help"]],
  ])("%j returns the help marker, even beside bad flags", (argv) => {
    expect(loadConfig(argv, { KVROUTE_DRAIN_TIMEOUT_MS: "bad" })).toEqual({ help: true });
  });

  it("is not triggered by a value that happens to be -h", () => {
    expect(load(["--namespace=-h"]).namespace).toBe("-h");
  });
});
