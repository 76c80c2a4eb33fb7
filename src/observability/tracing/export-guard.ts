/**
 * Bounds and counts around the SDK's batch span processor and OTLP exporter. The batch processor keeps its own
 * dropped-span count private, so this guard keeps the queue bound itself: it knows how many ended spans the processor
 * holds (handed in, minus taken out for export) and refuses a span once `maxQueueSize` are held, counting it, so the
 * processor's own bound is never the one that drops. An export that fails loses its spans: counted too. The
 * collector's state (reachable or not) is logged once per change, never once per batch.
 *
 * @module
 */
import { TraceFlags } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { ExportResultCode } from "@opentelemetry/core";
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace";

/** Why spans were lost; the label values of `kvroute_trace_spans_dropped_total`. */
export type DropReason = "queue-full" | "export-failed" | "pending-full";

/** What the guard reports to. */
export interface ExportGuardObserver {
  onDropped(reason: DropReason, spans: number): void;
  /** The collector stopped accepting spans (`error` says why) or accepts them again; once per change. */
  onExportState(state: "failing" | "ok", error: string | undefined): void;
}

/** Shared between the exporter wrapper and the processor wrapper: spans the inner processor holds. */
interface QueueCount {
  held: number;
}

/** Wrap `inner`: count spans taken out of the queue for export, and spans lost by a failed export. */
export function guardExporter(
  inner: SpanExporter,
  queue: QueueCount,
  observer: ExportGuardObserver,
): SpanExporter {
  let failing = false;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      queue.held = Math.max(0, queue.held - spans.length);
      inner.export(spans, (result) => {
        const ok = result.code === ExportResultCode.SUCCESS;
        if (!ok) observer.onDropped("export-failed", spans.length);
        if (ok === failing) {
          failing = !ok;
          observer.onExportState(
            ok ? "ok" : "failing",
            ok ? undefined : (result.error?.message ?? "unknown"),
          );
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    ...(inner.forceFlush ? { forceFlush: () => inner.forceFlush?.() ?? Promise.resolve() } : {}),
  };
}

/** Wrap the batch processor `inner` so its queue never exceeds `maxQueueSize`, counting what is refused. */
export function guardProcessor(
  inner: SpanProcessor,
  queue: QueueCount,
  maxQueueSize: number,
  observer: ExportGuardObserver,
): SpanProcessor {
  return {
    onStart: (span: Span, parent: Context) => inner.onStart(span, parent),
    onEnd(span: ReadableSpan): void {
      // The batch processor queues only sampled spans: count what it will hold.
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return inner.onEnd(span);
      if (queue.held >= maxQueueSize) {
        observer.onDropped("queue-full", 1);
        return;
      }
      queue.held += 1;
      inner.onEnd(span);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
}

/** A fresh queue count for one processor/exporter pair. */
export function queueCount(): QueueCount {
  return { held: 0 };
}
