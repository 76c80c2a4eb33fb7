/**
 * The OpenTelemetry tracing rows of the settings table (docs/tracing.md). The standard `OTEL_*` variables are read
 * here, as users expect them: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the traces URL used as is,
 * `OTEL_EXPORTER_OTLP_ENDPOINT` a base to which `/v1/traces` is appended (as the OTLP exporter specification says).
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { decimal, optionalHttpUrl, text } from "./values";

/** The `Config` fields these rows fill. */
export type TracingSettingKey = "otlpEndpoint" | "otlpBaseEndpoint" | "traceSampleRatio" | "otelServiceName";

/** Tracing settings; all off unless an endpoint is set. */
export const TRACING_SETTINGS: { readonly [K in TracingSettingKey]: Setting<Config[K]> } = {
  otlpEndpoint: {
    flag: "otlp-endpoint",
    env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    type: optionalHttpUrl("<url>"),
    description:
      "Export request traces over OTLP/HTTP (JSON) to this traces URL, e.g. http://127.0.0.1:4318/v1/traces; unset: tracing off.",
  },
  otlpBaseEndpoint: {
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    type: optionalHttpUrl("<url>"),
    description: "OTLP/HTTP base URL: traces go to <url>/v1/traces (--otlp-endpoint wins).",
  },
  traceSampleRatio: {
    flag: "trace-sample-ratio",
    env: "KVROUTE_TRACE_SAMPLE_RATIO",
    type: decimal({ min: 0, max: 1, default: 0.1 }),
    description:
      "Share of requests without a sampled traceparent that are traced (parent-based: a client's sampled flag is followed).",
  },
  otelServiceName: {
    flag: "otel-service-name",
    env: "OTEL_SERVICE_NAME",
    type: text(() => "kvroute", "kvroute"),
    description: "service.name of kvroute's trace spans.",
  },
};

/** Where traces go: the traces URL, else the base URL's `/v1/traces`; `undefined` when tracing is off. */
export function otlpTracesUrl(config: Pick<Config, "otlpEndpoint" | "otlpBaseEndpoint">): string | undefined {
  if (config.otlpEndpoint !== undefined) return config.otlpEndpoint;
  if (config.otlpBaseEndpoint === undefined) return undefined;
  return `${config.otlpBaseEndpoint.replace(/\/+$/, "")}/v1/traces`;
}
