/**
 * Tracing's surface inside observability. The OpenTelemetry SDK is loaded only when tracing is on
 * ({@link loadRequestTracer}): a kvroute without an OTLP endpoint never loads it.
 *
 * @module
 */
import type { RequestTracer, RequestTracerOptions } from "./request-tracer";

export type { RequestTracer, RequestTracerOptions, TraceBatchOptions } from "./request-tracer";
export type { RequestTimeline, TracePhase, TraceResult } from "./request-timeline";

/** Load the SDK and create the tracer (see `createRequestTracer`). */
export async function loadRequestTracer(options: RequestTracerOptions): Promise<RequestTracer> {
  const { createRequestTracer } = await import("./request-tracer.js");
  return createRequestTracer(options);
}
