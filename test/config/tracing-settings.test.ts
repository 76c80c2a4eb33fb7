/** The tracing settings: the standard OTEL_* variables, which URL wins, and what is refused. */
import { otlpTracesUrl, startupSummary } from "../../src/config";
import { load, problemOf } from "./load-support";

describe("tracing settings", () => {
  it("is off unless an endpoint is set, and the startup line says which", () => {
    expect(otlpTracesUrl(load([]))).toBeUndefined();
    expect(startupSummary(load([])).features["tracing"]).toBe(false);
    const on = load([], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://user:pw@127.0.0.1:4318" });
    expect(startupSummary(on).features["tracing"]).toBe(true);
    expect(JSON.stringify(startupSummary(on))).not.toContain("pw@");
  });

  it("appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT, as the OTLP exporter specification says", () => {
    const c = load([], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" });
    expect(otlpTracesUrl(c)).toBe("http://127.0.0.1:4318/v1/traces");
  });

  it("uses the traces endpoint as is, and it wins over the base endpoint; the flag wins over both", () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4319/custom",
    };
    expect(otlpTracesUrl(load([], env))).toBe("http://127.0.0.1:4319/custom");
    expect(otlpTracesUrl(load(["--otlp-endpoint", "https://127.0.0.1:4320/v1/traces"], env))).toBe(
      "https://127.0.0.1:4320/v1/traces",
    );
  });

  it("refuses what is not an http(s) URL and a ratio outside 0..1", () => {
    expect(problemOf(["--otlp-endpoint", "127.0.0.1:4318"]).problems).toEqual([
      '--otlp-endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): must be an http:// or https:// URL, got "127.0.0.1:4318"',
    ]);
    expect(problemOf([], { OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://127.0.0.1:4317" }).problems).toHaveLength(1);
    expect(problemOf(["--trace-sample-ratio", "1.5"]).problems).toHaveLength(1);
  });

  it("honours OTEL_SERVICE_NAME and --trace-sample-ratio", () => {
    const c = load(["--trace-sample-ratio", "1"], { OTEL_SERVICE_NAME: "router-a" });
    expect(c.traceSampleRatio).toBe(1);
    expect(c.otelServiceName).toBe("router-a");
  });
});
