/**
 * Optional OpenTelemetry tracing of requests (off unless an OTLP endpoint is configured). A traced request carries a
 * {@link RequestTimeline} the session and director mark; when it ends, the timeline is queued and turned into spans
 * on a later turn of the event loop, with the explicit start and end times it recorded: one `kvroute.request` span
 * (child of the client's W3C `traceparent`, when it sent one) and a child per phase. Spans go through the SDK's
 * batch processor to the OTLP/HTTP exporter; every bound is counted in `kvroute_trace_spans_dropped_total` and a
 * dead collector only loses traces. No context manager and no instrumentation: contexts are passed explicitly.
 *
 * @module
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from "@opentelemetry/api";
import type { Context, HrTime, TextMapGetter, Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator, hrTime, parseTraceParent } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { Counter } from "prom-client";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import { guardExporter, guardProcessor, queueCount } from "./export-guard";
import type { DropReason } from "./export-guard";
import { MAX_TRACEPARENT_CHARS, RequestTimeline } from "./request-timeline";
import type { FinishedTimeline } from "./request-timeline";
import { childSpans, rootAttributes, rootFailed, SPAN_ATTRIBUTE_VALUE_LIMIT } from "./span-shapes";

/** Batch processor and exporter bounds (tests shorten the delays). */
export interface TraceBatchOptions {
  /** Most ended spans waiting for export; beyond it spans are dropped and counted. Default 2048. */
  readonly maxQueueSize?: number;
  /** Spans per export request. Default 512. */
  readonly maxExportBatchSize?: number;
  /** Delay between two exports, ms. Default 2000. */
  readonly scheduledDelayMs?: number;
  /** One export's deadline, retries included, ms. Default 10000. */
  readonly exportTimeoutMs?: number;
}

/** What {@link createRequestTracer} needs. */
export interface RequestTracerOptions {
  /** The OTLP/HTTP traces URL (`…/v1/traces`); JSON encoding. */
  readonly endpoint: string;
  /** Ratio of root requests (no sampled parent) traced; a parent's sampled flag decides for its children. */
  readonly sampleRatio: number;
  readonly serviceName: string;
  readonly serviceVersion?: string | undefined;
  /** `service.instance.id` (the replica's pod name). */
  readonly serviceInstanceId?: string | undefined;
  /** Where `kvroute_trace_spans_dropped_total` is registered. */
  readonly registry: Registry;
  readonly log: Logger;
  /** The session's monotonic clock, ms (`performance.now` in production): the timelines' marks use it. */
  readonly now: () => number;
  readonly batch?: TraceBatchOptions | undefined;
  /** Uniform in [0, 1) for the root sampling decision. Default `Math.random`. */
  readonly random?: (() => number) | undefined;
}

/** The tracer the session uses: a timeline per request, and a bounded flush at shutdown. */
export interface RequestTracer {
  /**
   * A timeline for a request whose headers were read at `startedMs`, or `undefined` when the request is not sampled
   * (then nothing is recorded for it).
   */
  begin(
    requestId: string,
    startedMs: number,
    headers: { get(name: string): string | undefined },
  ): RequestTimeline | undefined;
  /** Export what is queued and stop; resolves within `timeoutMs` whatever the collector does. Idempotent. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** Finished timelines waiting to become spans; beyond this they are dropped (counted as their spans). */
const MAX_PENDING_TIMELINES = 4096;

/** Reads the W3C trace context from a timeline's two kept headers, never from anything else the client sent. */
const GETTER: TextMapGetter<FinishedTimeline> = {
  keys: () => ["traceparent", "tracestate"],
  get: (t, key) => (key === "traceparent" ? t.traceparent : key === "tracestate" ? t.tracestate : undefined),
};

/** Create the tracer and its export pipeline. */
export function createRequestTracer(o: RequestTracerOptions): RequestTracer {
  const dropped = new Counter({
    name: "kvroute_trace_spans_dropped_total",
    help: "Trace spans lost before reaching the collector, by reason (queue-full, export-failed, pending-full).",
    labelNames: ["reason"],
    registers: [o.registry],
  });
  for (const reason of ["queue-full", "export-failed", "pending-full"] satisfies DropReason[])
    dropped.inc({ reason }, 0);
  const observer = {
    onDropped: (reason: DropReason, spans: number) => dropped.inc({ reason }, spans),
    onExportState(state: "failing" | "ok", error: string | undefined) {
      if (state === "failing")
        o.log.warn(
          { endpoint: o.endpoint, error },
          "trace export failing: spans are dropped until it recovers",
        );
      else o.log.info({ endpoint: o.endpoint }, "trace export recovered");
    },
  };
  const b = o.batch ?? {};
  const maxQueueSize = b.maxQueueSize ?? 2048;
  const exportTimeoutMs = b.exportTimeoutMs ?? 10_000;
  const queue = queueCount();
  const exporter = guardExporter(
    new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: exportTimeoutMs, concurrencyLimit: 4 }),
    queue,
    observer,
  );
  const processor = new BatchSpanProcessor({
    exporter,
    maxQueueSize,
    maxExportBatchSize: Math.min(maxQueueSize, b.maxExportBatchSize ?? 512),
    scheduledDelayMillis: b.scheduledDelayMs ?? 2000,
    exportTimeoutMillis: exportTimeoutMs,
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: o.serviceName,
      ...(o.serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: o.serviceVersion }),
      ...(o.serviceInstanceId === undefined ? {} : { "service.instance.id": o.serviceInstanceId }),
    }),
    // Parent-based; roots are decided at request headers by `sampled` (below), so those that get here are kept.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanLimits: { attributeValueLengthLimit: SPAN_ATTRIBUTE_VALUE_LIMIT },
    spanProcessors: [guardProcessor(processor, queue, maxQueueSize, observer)],
  });
  const tracer = provider.getTracer("kvroute");
  const propagator = new W3CTraceContextPropagator();

  let pending: FinishedTimeline[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let stopped: Promise<void> | undefined;

  const drainPending = (): void => {
    scheduled = undefined;
    const batch = pending;
    pending = [];
    for (const t of batch) exportTimeline(tracer, propagator, t);
  };
  const ended = (t: RequestTimeline): void => {
    if (stopped !== undefined) return;
    if (pending.length >= MAX_PENDING_TIMELINES) {
      observer.onDropped("pending-full", 1 + childSpans(t).length);
      return;
    }
    pending.push(t);
    scheduled ??= setImmediate(drainPending);
  };

  const random = o.random ?? Math.random;
  /**
   * The sampling decision, taken when the request's headers are read so an unsampled request records nothing: a
   * valid `traceparent` decides by its sampled flag (as the parent-based sampler would); a request without one
   * (or with a malformed one, which starts a new trace) is kept with probability `sampleRatio`.
   */
  const sampled = (headers: { get(name: string): string | undefined }): boolean => {
    const tp = headers.get("traceparent");
    const parent = tp === undefined || tp.length > MAX_TRACEPARENT_CHARS ? null : parseTraceParent(tp);
    if (parent !== null) return (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
    return o.sampleRatio >= 1 || random() < o.sampleRatio;
  };

  return {
    begin: (requestId, startedMs, headers) =>
      sampled(headers) ? new RequestTimeline(requestId, startedMs, headers, o.now, ended) : undefined,
    shutdown(timeoutMs) {
      stopped ??= (async () => {
        if (scheduled !== undefined) clearImmediate(scheduled);
        drainPending();
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        });
        // A collector that never answers must not hold the drain: the bound wins, and the spans are lost.
        await Promise.race([provider.shutdown().catch(() => undefined), bound]);
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}

/** Monotonic ms (the session's `performance.now`) → OTel wall-clock time. */
const at = (ms: number): HrTime => hrTime(ms);

/** Turn one finished timeline into its spans. A root the sampler does not record costs nothing more. */
function exportTimeline(tracer: Tracer, propagator: W3CTraceContextPropagator, t: FinishedTimeline): void {
  const parent: Context =
    t.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, t, GETTER);
  const root = tracer.startSpan(
    "kvroute.request",
    { kind: SpanKind.SERVER, startTime: at(t.startedMs), attributes: rootAttributes(t) },
    parent,
  );
  if (!root.isRecording()) return;
  const inRoot = trace.setSpan(parent, root);
  for (const c of childSpans(t)) {
    const span = tracer.startSpan(c.name, { startTime: at(c.startMs), attributes: c.attributes }, inRoot);
    for (const e of c.events) span.addEvent(e.name, at(e.atMs));
    if (c.failed) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(at(c.endMs));
  }
  if (rootFailed(t.result)) root.setStatus({ code: SpanStatusCode.ERROR, message: t.result.outcome });
  root.end(at(t.result.endMs));
}
