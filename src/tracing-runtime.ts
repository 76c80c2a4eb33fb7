/**
 * OpenTelemetry tracing as the server wires it: off (nothing loaded, no tracer) unless an OTLP endpoint is
 * configured; on, the tracer is registered as a piece whose close exports what is queued, bounded, so a drain
 * never waits on a dead collector for long.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import type { Config } from "./config";
import { otlpTracesUrl } from "./config";
import type { RegisterPiece } from "./lifecycle";
import { loadRequestTracer } from "./observability";
import type { Logger, RequestTracer, TraceBatchOptions } from "./observability";
import type { Registry } from "prom-client";

/** Longest a drain waits for the last spans to reach the collector. */
export const TRACE_SHUTDOWN_MS = 5000;

/** Start tracing when configured; `undefined` when off. */
export async function startTracing(
  config: Config,
  log: Logger,
  registry: Registry,
  piece: RegisterPiece,
  batch?: TraceBatchOptions,
): Promise<RequestTracer | undefined> {
  const endpoint = otlpTracesUrl(config);
  if (endpoint === undefined) return undefined;
  const tracer = await loadRequestTracer({
    endpoint,
    sampleRatio: config.traceSampleRatio,
    serviceName: config.otelServiceName,
    serviceInstanceId: config.gatewayPodName,
    registry,
    log,
    now: () => performance.now(),
    batch,
  });
  piece("tracing", () => tracer.shutdown(TRACE_SHUTDOWN_MS));
  // The URL's user info (if any) may be a credential: only where it points is logged.
  const url = new URL(endpoint);
  log.info(
    { endpoint: `${url.origin}${url.pathname}`, sampleRatio: config.traceSampleRatio },
    "tracing on: request spans exported over OTLP/HTTP",
  );
  return tracer;
}
