/**
 * What other areas may use of `src/observability`: import it from here, never from a file inside.
 *
 * @module
 */
export { createHealthMetrics } from "./health-metrics";
export { createStdoutLogger, roundMs } from "./logger";
export type { Logger, StdoutLogger } from "./logger";
export { createMetrics } from "./metrics";
export type { Metrics } from "./metrics";
export { loadRequestTracer } from "./tracing";
export type {
  RequestTimeline,
  RequestTracer,
  RequestTracerOptions,
  TraceBatchOptions,
  TracePhase,
  TraceResult,
} from "./tracing";
