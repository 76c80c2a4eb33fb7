import { load, problemOf } from "./load-support";
import type { Env } from "./load-support";

describe("loadConfig rejects bad values, naming the setting", () => {
  it.each<[string, readonly string[], Env, string]>([
    [
      "integer garbage",
      ["--drain-timeout-ms", "abc"],
      {},
      `--drain-timeout-ms (KVROUTE_DRAIN_TIMEOUT_MS): must be an integer >= 0 and <= 2147483647, got "abc"`,
    ],
    [
      "negative",
      ["--drain-timeout-ms=-1"],
      {},
      `--drain-timeout-ms (KVROUTE_DRAIN_TIMEOUT_MS): must be an integer >= 0`,
    ],
    [
      "trailing garbage",
      [],
      { KVROUTE_DRAIN_TIMEOUT_MS: "10ms" },
      `--drain-timeout-ms (KVROUTE_DRAIN_TIMEOUT_MS): must be an integer >= 0 and <= 2147483647, got "10ms"`,
    ],
    ["fraction", [], { KVROUTE_DRAIN_TIMEOUT_MS: "1.5" }, `got "1.5"`],
    [
      "decimal with a sign",
      [],
      { AIBRIX_ROUTER_VTC_BASIC_FAIRNESS_WEIGHT: "-1" },
      `--vtc-fairness-weight (AIBRIX_ROUTER_VTC_BASIC_FAIRNESS_WEIGHT): must be a number >= 0 and <= 1000000, got "-1"`,
    ],
    ["decimal exponent", [], { AIBRIX_ROUTER_VTC_BASIC_MAX_POD_LOAD: "1e2" }, `got "1e2"`],
    ["decimal below its minimum", ["--vtc-min-tokens=0.5"], {}, "--vtc-min-tokens"],
    ["vtc time unit", [], { AIBRIX_ROUTER_VTC_TOKEN_TRACKER_TIME_UNIT: "hours" }, `got "hours"`],
    [
      "exponent",
      [],
      { KVROUTE_MAX_POD_LABEL_SERIES: "1e3" },
      `--max-pod-label-series (KVROUTE_MAX_POD_LABEL_SERIES): must be an integer >= 0 and <= 1000000, got "1e3"`,
    ],
    ["surrounding space", [], { KVROUTE_DRAIN_TIMEOUT_MS: " 5" }, `got " 5"`],
    ["above setTimeout's limit", ["--drain-timeout-ms=2147483648"], {}, "--drain-timeout-ms"],
    ["unsafe integer", ["--drain-timeout-ms=99999999999999999999"], {}, "--drain-timeout-ms"],
    [
      "message size too small",
      [],
      { AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES: "1023" },
      `--grpc-max-message-size-bytes (AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES): must be an integer >= 1024 and <= 536870912 (1 KiB..512 MiB), got "1023"`,
    ],
    ["message size zero", [], { AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES: "0" }, `got "0"`],
    [
      "body too large",
      ["--max-body-bytes=536870913"],
      {},
      `--max-body-bytes (KVROUTE_MAX_BODY_BYTES): must be an integer >= 1024`,
    ],
    [
      "boolean",
      [],
      { KVROUTE_STANDALONE: "yes" },
      `--standalone (KVROUTE_STANDALONE): must be true or false, got "yes"`,
    ],
    [
      "boolean flag value",
      ["--send-body-without-waiting-for-header-response=maybe"],
      {},
      `--send-body-without-waiting-for-header-response (KVROUTE_SEND_BODY_WITHOUT_WAITING_FOR_HEADER_RESPONSE): must be true or false`,
    ],
    [
      "request mode",
      ["--request-body-mode=NONE"],
      {},
      `--request-body-mode (KVROUTE_REQUEST_BODY_MODE): must be one of BUFFERED, STREAMED, FULL_DUPLEX_STREAMED, got "NONE"`,
    ],
    [
      "response mode",
      [],
      { KVROUTE_RESPONSE_BODY_MODE: "chunked" },
      `--response-body-mode (KVROUTE_RESPONSE_BODY_MODE): must be one of NONE, STREAMED, BUFFERED, FULL_DUPLEX_STREAMED`,
    ],
    [
      "log level",
      [],
      { LOG_LEVEL: "verbose" },
      `--log-level (LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"`,
    ],
    [
      "address without port",
      ["--grpc-bind-address=localhost"],
      {},
      `--grpc-bind-address (KVROUTE_GRPC_BIND_ADDRESS): must be host:port, [ipv6]:port, :port or a bare port, got "localhost"`,
    ],
    [
      "health port not a port",
      ["--grpc-health-port=http"],
      {},
      `--grpc-health-port (KVROUTE_GRPC_HEALTH_PORT): must be a port 0..65535, got "http"`,
    ],
    [
      "health port the gRPC port",
      ["--grpc-port=9002", "--grpc-health-port=9002"],
      {},
      `--grpc-health-port (KVROUTE_GRPC_HEALTH_PORT): must differ from the port of --grpc-bind-address (9002)`,
    ],
    [
      "TLS cert without key",
      ["--grpc-tls-cert=/t/tls.crt"],
      {},
      `--grpc-tls-key (KVROUTE_GRPC_TLS_KEY): required with --grpc-tls-cert`,
    ],
    [
      "TLS key without cert",
      [],
      { KVROUTE_GRPC_TLS_KEY: "/t/tls.key" },
      `--grpc-tls-cert (KVROUTE_GRPC_TLS_CERT): required with --grpc-tls-key`,
    ],
    [
      "TLS files and self-signed",
      ["--grpc-tls-self-signed", "--grpc-tls-cert=/t/tls.crt", "--grpc-tls-key=/t/tls.key"],
      {},
      `--grpc-tls-self-signed (KVROUTE_GRPC_TLS_SELF_SIGNED): cannot be combined with --grpc-tls-cert/--grpc-tls-key (choose one source of certificate)`,
    ],
    [
      "port out of range",
      [],
      { KVROUTE_GRPC_BIND_ADDRESS: ":65536" },
      `--grpc-bind-address (KVROUTE_GRPC_BIND_ADDRESS): port must be an integer >= 0 and <= 65535`,
    ],
    [
      "bare IPv6",
      [],
      { KVROUTE_HTTP_BIND_ADDRESS: "::1:80" },
      `--http-bind-address (KVROUTE_HTTP_BIND_ADDRESS): must be host:port`,
    ],
    ["bad IPv6", [], { KVROUTE_HTTP_BIND_ADDRESS: "[zz]:80" }, "must have an IPv6 address inside [ ]"],
    ["bad IPv4", ["--grpc-bind-address=999.1.1.1:80"], {}, "host must be an IPv4 address or a host name"],
    [
      "alias named as typed",
      ["--metrics-bind-address=nope"],
      {},
      `--metrics-bind-address (KVROUTE_HTTP_BIND_ADDRESS): must be host:port`,
    ],
    ["empty flag value", ["--namespace="], {}, "--namespace (KVROUTE_NAMESPACE): must not be empty"],
    [
      "empty routing algorithm",
      ["--routing-algorithm="],
      {},
      "--routing-algorithm (ROUTING_ALGORITHM): must not be empty",
    ],
    [
      "whitespace in pod name",
      [],
      { POD_NAME: "gw " },
      `POD_NAME: must not have leading or trailing whitespace, got "gw "`,
    ],
    ["unknown flag", ["--bogus", "x"], {}, "unknown flag --bogus (see --help)"],
    ["unknown flag with =", ["--routing=random"], {}, "unknown flag --routing (see --help)"],
    ["env-only setting as a flag", ["--auth-bearer-token=t"], {}, "unknown flag --auth-bearer-token"],
    ["positional argument", ["serve"], {}, `unexpected argument "serve"`],
    ["after --", ["--", "--standalone"], {}, `unexpected argument "--standalone"`],
    [
      "boolean with a separate value",
      ["--standalone", "false"],
      { KVROUTE_ENDPOINTS_CONFIG: "e.yaml" },
      `unexpected argument "false" (a boolean takes its value after "=": --standalone=false)`,
    ],
    ["missing value at the end", ["--log-level"], {}, "--log-level (LOG_LEVEL): missing value"],
    [
      "flag in place of a value",
      ["--namespace", "--standalone"],
      {},
      "--namespace (KVROUTE_NAMESPACE): missing value",
    ],
    [
      "standalone without file (flag)",
      ["--standalone"],
      {},
      "--endpoints-config (KVROUTE_ENDPOINTS_CONFIG): required when --standalone is set",
    ],
    [
      "standalone without file (env)",
      [],
      { KVROUTE_STANDALONE: "true" },
      "--endpoints-config (KVROUTE_ENDPOINTS_CONFIG): required when --standalone is set",
    ],
    [
      "InferencePool without namespace (flag alias)",
      ["--pool-name", "pool"],
      {},
      "--pool-name (KVROUTE_INFERENCE_POOL): needs --namespace (KVROUTE_NAMESPACE)",
    ],
    [
      "InferencePool without namespace (env)",
      [],
      { KVROUTE_INFERENCE_POOL: "pool" },
      "--inference-pool (KVROUTE_INFERENCE_POOL): needs --namespace (KVROUTE_NAMESPACE)",
    ],
  ])("%s", (_name, argv, env, expected) => {
    expect(problemOf(argv, env).message).toContain(expected);
  });

  it("never echoes the bearer token", () => {
    const err = problemOf([], { AIBRIX_AUTH_BEARER_TOKEN: "t0ps3cret\n" });
    expect(err.message).toBe(
      "AIBRIX_AUTH_BEARER_TOKEN: must not have leading or trailing whitespace, got (value hidden)",
    );
    expect(err.message).not.toContain("t0ps3cret");
  });

  it("reports every problem at once, one line each", () => {
    const err = problemOf(["--standalone", "--bogus=1", "--log-level=loud"], {
      KVROUTE_DRAIN_TIMEOUT_MS: "x",
    });
    expect(err.problems).toEqual([
      "unknown flag --bogus (see --help)",
      `--drain-timeout-ms (KVROUTE_DRAIN_TIMEOUT_MS): must be an integer >= 0 and <= 2147483647, got "x"`,
      `--log-level (LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent, got "loud"`,
      "--endpoints-config (KVROUTE_ENDPOINTS_CONFIG): required when --standalone is set",
    ]);
    expect(err.message).toBe(err.problems.join("\n"));
    expect(err.name).toBe("ConfigError");
  });

  it("accepts an InferencePool with its namespace, and ignores one in standalone mode", () => {
    expect(load(["--inference-pool", "pool", "--namespace", "llm"])).toMatchObject({
      inferencePool: "pool",
      namespace: "llm",
    });
    expect(load(["--standalone", "--endpoints-config", "e.yaml", "--inference-pool", "pool"])).toMatchObject({
      standalone: true,
      inferencePool: "pool",
    });
  });

  it("accepts standalone with an endpoints file", () => {
    expect(load(["--standalone", "--endpoints-config", "examples/endpoints.yaml"])).toMatchObject({
      standalone: true,
      endpointsConfigPath: "examples/endpoints.yaml",
    });
  });
});
